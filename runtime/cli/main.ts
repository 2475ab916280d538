#!/usr/bin/env bun
/**
 * The `dcsm` command line: `serve`, `ingest`, `search`, `mcp` and `demo`.
 * Run `dcsm help` for usage. Exit codes: 0 success, 1 failure, 2 usage error.
 * @module
 */
import { readFileSync, statSync } from "node:fs";
import { parseArgs } from "node:util";
import { ConnectError } from "@connectrpc/connect";
import { createNodeTransport } from "../../sdk/server.ts";
import { newApiKey } from "../auth/authenticator.ts";
import { ConfigError, type DcsmConfig, loadConfig } from "../config.ts";
import { runMcpStdio } from "../mcp/stdio-entry.ts";
import { startDcsmServer } from "../server.ts";
import { clientUrlFromEnv, createDcsmClients, type Protocol } from "./clients.ts";
import { runDemo } from "./demo.ts";
import { ingestPaths } from "./ingest.ts";
import { formatHits, searchText } from "./search.ts";
import { fetchHealth, startBackground, stopBackground, warmupRequest } from "./service-control.ts";
import { watchFolders } from "./watch.ts";

const USAGE = `dcsm — Dynamic Contextualized Shared Memory

Usage:
  dcsm serve  [--host H] [--http-port N] [--grpc-port N] [--data-dir DIR] [--model ID] [--insecure]
              (a non-loopback --host needs authentication configured, or --insecure)
  dcsm ingest PATH... [--url URL] [--ca PEM] [--protocol connect|grpc-web|grpc] [--concurrency N] [--batch-files N] [--chunk-chars N] [--watch]
  dcsm search "QUERY" [--k N] [--mode hybrid|vector|lexical] [--path-prefix P] [--language L] [--url URL] [--ca PEM] [--protocol connect|grpc-web|grpc]
  dcsm mcp    [--url URL] [--token T] [--ca PEM] [--agent-id ID] [--data-dir DIR]
                                 MCP server on stdio for agent runtimes: to the DCSM at --url (or DCSM_URL)
                                 with --token (or DCSM_TOKEN); without a URL, DCSM runs embedded on --data-dir
  dcsm demo   [--data-dir DIR]   start a server, ingest this repository, run example searches
  dcsm start  [serve flags]      run serve in the background (pid + log in the data dir), wait until warmed up
  dcsm stop   [--data-dir DIR]   stop the background server
  dcsm status [--url URL]        print /health
  dcsm warmup [--url URL]        send a small /v1/embeddings request (DCSM_API_KEYS' first key if set)
  dcsm keys new --id ID --scope NS:RIGHTS [--scope …]
                                 print a new API key once, and its entry for DCSM_API_KEYS_FILE (hash only)

Client commands send --token (or DCSM_TOKEN), an API key or JWT, as authorization: Bearer.
Rights: read, write, publish, subscribe, lock, admin (or *); NS may be * for every namespace.

Environment: DCSM_HOST, DCSM_HTTP_PORT (8080), DCSM_GRPC_PORT (50051), DCSM_DATA_DIR (./data),
DCSM_MODEL, DCSM_MODEL_DIR, DCSM_MODEL_OFFLINE, DCSM_URL (client commands and mcp; else built from
DCSM_HOST and DCSM_HTTP_PORT) and DCSM_TOKEN,
DCSM_AGENT_ID (mcp),
DCSM_API_KEYS_FILE, DCSM_JWT_SECRET, DCSM_JWT_PUBLIC_KEY_FILE, DCSM_INSECURE. See README.md.`;

class UsageError extends Error {}

function num(v: string | undefined, name: string, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new UsageError(`--${name} must be an integer from ${min} to ${max}`);
  return n;
}

function serverConfig(values: Record<string, string | string[] | boolean | undefined>): DcsmConfig {
  return loadConfig(process.env, {
    host: values.host,
    httpPort: values["http-port"],
    grpcPort: values["grpc-port"],
    dataDir: values["data-dir"],
    model: values.model,
    insecure: values.insecure,
  });
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      host: { type: "string" },
      "http-port": { type: "string" },
      "grpc-port": { type: "string" },
      "data-dir": { type: "string" },
      model: { type: "string" },
      url: { type: "string" },
      protocol: { type: "string" },
      ca: { type: "string" },
      k: { type: "string" },
      concurrency: { type: "string" },
      "batch-files": { type: "string" },
      "chunk-chars": { type: "string" },
      watch: { type: "boolean" },
      "path-prefix": { type: "string" },
      mode: { type: "string" },
      language: { type: "string" },
      insecure: { type: "boolean" },
      token: { type: "string" },
      id: { type: "string" },
      scope: { type: "string", multiple: true },
      "agent-id": { type: "string" },
    },
  });
  const url = values.url ?? clientUrlFromEnv();
  const caFile = values.ca ?? process.env.DCSM_TLS_CA; // PEM CA to trust for an https:// --url
  const ca = caFile ? readFileSync(caFile) : undefined;
  const protocol = (values.protocol ?? "connect") as Protocol;
  const token = values.token ?? process.env.DCSM_TOKEN ?? undefined;
  if (!["connect", "grpc-web", "grpc"].includes(protocol))
    throw new UsageError("--protocol must be connect, grpc-web or grpc");

  switch (command) {
    case "serve": {
      const server = await startDcsmServer(serverConfig(values));
      process.stdout.write(`DCSM serving Connect/gRPC-Web on ${server.httpUrl} and gRPC on ${server.grpcUrl}\n`);
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once("SIGINT", stop);
        process.once("SIGTERM", stop);
      });
      process.stdout.write("shutting down…\n");
      await server.close();
      return 0;
    }
    case "ingest": {
      if (positionals.length === 0) throw new UsageError("ingest needs at least one PATH");
      const clients = createDcsmClients(createNodeTransport({ baseUrl: url, protocol, ca, token }));
      const report = await ingestPaths(clients, positionals, {
        concurrency: num(values.concurrency, "concurrency", 1, 64),
        batchFiles: num(values["batch-files"], "batch-files", 1, 256),
        maxChunkChars: num(values["chunk-chars"], "chunk-chars", 16, 16000),
      });
      process.stdout.write(
        `ingested ${report.files} files as ${report.chunks} chunks in ${report.seconds.toFixed(1)} s (${report.chunksPerSecond.toFixed(1)} chunks/s); ` +
          `${report.embedded} embedded, ${report.unchanged} unchanged, ${report.removedChunks} removed (${report.removedFiles} deleted files)\n`,
      );
      for (const f of report.failed) process.stderr.write(`  failed: ${f.path}: ${f.error}\n`);
      if (values.watch) {
        const folders = positionals.filter((p) => statSync(p).isDirectory());
        process.stdout.write(`watching ${folders.join(", ")} (Ctrl-C to stop)\n`);
        const stop = new AbortController();
        process.once("SIGINT", () => stop.abort());
        process.once("SIGTERM", () => stop.abort());
        await watchFolders(clients, folders, stop.signal, {
          onRound: (r, changed) =>
            process.stdout.write(
              `re-indexed ${changed.length} changed path(s): ${r.embedded} embedded, ${r.unchanged} unchanged, ${r.removedChunks} removed\n`,
            ),
          onError: (err) => process.stderr.write(`dcsm: watch round failed: ${(err as Error).message}\n`),
        });
        return 0;
      }
      return report.failed.length > 0 ? 1 : 0;
    }
    case "search": {
      const query = positionals.join(" ").trim();
      if (!query) throw new UsageError('search needs a QUERY, e.g. dcsm search "where are locks released"');
      const clients = createDcsmClients(createNodeTransport({ baseUrl: url, protocol, ca, token }));
      const t0 = performance.now();
      const mode = values.mode;
      if (mode !== undefined && mode !== "hybrid" && mode !== "vector" && mode !== "lexical")
        throw new UsageError(`--mode must be hybrid, vector or lexical, not ${JSON.stringify(mode)}`);
      const hits = await searchText(clients, query, num(values.k, "k", 1, 1000) ?? 5, {
        pathPrefix: values["path-prefix"],
        language: values.language,
        mode,
      });
      process.stdout.write(
        `${hits.length} results in ${(performance.now() - t0).toFixed(1)} ms\n${formatHits(hits)}\n`,
      );
      return 0;
    }
    case "start":
      process.stdout.write(`${await startBackground(serverConfig(values), import.meta.path)}\n`);
      return 0;
    case "stop":
      process.stdout.write(`${await stopBackground(serverConfig(values))}\n`);
      return 0;
    case "status": {
      const health = await fetchHealth(url, token);
      process.stdout.write(health ? `${JSON.stringify(health, null, 2)}\n` : `DCSM is not answering on ${url}\n`);
      return health?.status === "ok" ? 0 : 1;
    }
    case "warmup":
      process.stdout.write(`${await warmupRequest(url, serverConfig(values).apiKeys[0])}\n`);
      return 0;
    case "keys": {
      if (positionals[0] !== "new")
        throw new UsageError("keys needs a subcommand: dcsm keys new --id ID --scope NS:RIGHTS");
      if (!values.id || !values.scope?.length)
        throw new UsageError(
          "keys new needs --id and at least one --scope, e.g. --scope team-a:read,write,publish,subscribe,lock",
        );
      let made: ReturnType<typeof newApiKey>;
      try {
        made = newApiKey(values.id, values.scope);
      } catch (err) {
        throw new UsageError((err as Error).message);
      }
      process.stdout.write(
        `key (shown once; give it to the agent): ${made.key}\nentry for DCSM_API_KEYS_FILE "keys": ${JSON.stringify(made.entry)}\n`,
      );
      return 0;
    }
    case "mcp":
      await runMcpStdio({
        url: values.url ?? (process.env.DCSM_URL || undefined),
        token,
        ca,
        agentId: values["agent-id"] ?? (process.env.DCSM_AGENT_ID || undefined),
        embedded: values.url || process.env.DCSM_URL ? undefined : serverConfig(values),
      });
      return 0;
    case "demo":
      return runDemo(
        serverConfig({ ...values, "http-port": values["http-port"] ?? "0", "grpc-port": values["grpc-port"] ?? "0" }),
      );
    case undefined:
    case "help":
    case "--help":
    case "-h":
      process.stdout.write(`${USAGE}\n`);
      return 0;
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof UsageError || (err as { code?: string }).code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") {
      process.stderr.write(`dcsm: ${(err as Error).message}\n\n${USAGE}\n`);
      process.exit(2);
    }
    if (err instanceof ConfigError) {
      process.stderr.write(`dcsm: ${err.message}\n`);
      process.exit(2);
    }
    const msg = err instanceof ConnectError ? `[${err.code}] ${err.rawMessage}` : (err as Error).message;
    process.stderr.write(`dcsm: ${msg}\n`);
    process.exit(1);
  },
);
