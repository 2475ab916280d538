/**
 * `dcsm demo`, the main job on embedded defaults: start a server (SQLite, exact vector index, the
 * bundled model), ingest this repository's source and docs through KPS over Connect, then answer
 * example questions by meaning over Connect, gRPC-Web and gRPC, printing results and timings.
 * @module
 */
import { join } from "node:path";
import { createNodeTransport } from "../../sdk/server.ts";
import { type DcsmConfig, REPO_ROOT } from "../config.ts";
import { startDcsmServer } from "../server.ts";
import { createDcsmClients, type Protocol } from "./clients.ts";
import { ingestPaths } from "./ingest.ts";
import { formatHits, searchText } from "./search.ts";

/** What the demo ingests: the docs and the source of the services, runtime and SDK (generated code excluded). */
export const DEMO_PATHS = ["README.md", "proto", "services", "runtime", "sdk"];

/** Example questions about this repository, each asked over a different protocol. */
export const DEMO_QUESTIONS: { question: string; protocol: Protocol }[] = [
  { question: "how is text split into chunks with line numbers?", protocol: "connect" },
  { question: "where is the SQLite table for memory units created?", protocol: "grpc-web" },
  { question: "how does the server stop gracefully?", protocol: "grpc" },
  { question: "nearest neighbour search over normalized vectors", protocol: "connect" },
];

/**
 * Runs the demo and prints to stdout.
 * @param config - server configuration (ports 0 pick free ports).
 * @returns the process exit code (0 on success, 1 when ingestion failed).
 */
export async function runDemo(config: DcsmConfig): Promise<number> {
  const out = (s: string) => process.stdout.write(`${s}\n`);
  out(`DCSM demo — data in ${config.dataDir}, model ${config.model}`);
  const server = await startDcsmServer({ ...config, logLevel: config.logLevel === "info" ? "warn" : config.logLevel });
  try {
    out(`server: Connect/gRPC-Web ${server.httpUrl}, gRPC ${server.grpcUrl}`);
    const connect = createDcsmClients(createNodeTransport({ baseUrl: server.httpUrl, protocol: "connect" }));
    const paths = DEMO_PATHS.map((p) => join(REPO_ROOT, p));
    out(
      `\ningesting this repository's source and docs (${DEMO_PATHS.join(", ")}) through KnowledgeProcessorService.BatchProcessRawData…`,
    );
    const report = await ingestPaths(connect, paths, { exclude: ["gen/"] });
    out(
      `ingested ${report.files} files → ${report.chunks} KEMs in ${report.seconds.toFixed(1)} s ` +
        `(${report.chunksPerSecond.toFixed(1)} chunks/s; skipped: ${JSON.stringify(report.skipped)})`,
    );
    for (const f of report.failed) out(`  failed: ${f.path}: ${f.error}`);

    const latencies: number[] = [];
    for (const { question, protocol } of DEMO_QUESTIONS) {
      const clients = createDcsmClients(
        createNodeTransport({ baseUrl: protocol === "grpc" ? server.grpcUrl : server.httpUrl, protocol }),
      );
      await searchText(clients, question, 1); // warm the connection
      const t0 = performance.now();
      const hits = await searchText(clients, question, 3);
      const ms = performance.now() - t0;
      latencies.push(ms);
      out(`\nQ (${protocol}, ${ms.toFixed(1)} ms): ${question}\n${formatHits(hits)}`);
    }
    latencies.sort((a, b) => a - b);
    out(
      `\nsearch latency (hybrid: text query → embedding and lexical match → fused ranking → rows): median ${latencies[Math.floor(latencies.length / 2)]!.toFixed(1)} ms over ${latencies.length} queries`,
    );
    out(`try it yourself while a server runs: bun runtime/cli/main.ts search "your question" --url ${server.httpUrl}`);
    return report.failed.length > 0 ? 1 : 0;
  } finally {
    await server.close();
  }
}
