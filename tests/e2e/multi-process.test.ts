/**
 * Many processes, one store (docs/architecture.md "Process model"): two `dcsm serve` processes on
 * one data directory write and read concurrently. No lock errors, nothing lost, nothing duplicated,
 * and each process's vector index sees the other's writes (it catches up from SQLite's change log).
 */
import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { REPO_ROOT } from "../../runtime/config.ts";
import { GlobalLongTermMemoryService } from "../../sdk/gen/dcsm/v1/glm_service_pb.ts";
import { removeTempDirs, tempDir } from "../helpers/temp-dir.ts";
import { prng, randomVector } from "../helpers/vectors.ts";

afterAll(removeTempDirs);
const MAIN = join(REPO_ROOT, "runtime/cli/main.ts");

async function startServe(dataDir: string) {
  const proc = Bun.spawn(
    [process.execPath, MAIN, "serve", "--http-port", "0", "--grpc-port", "0", "--data-dir", dataDir],
    {
      stdout: "pipe",
      stderr: "pipe",
      env: { ...process.env, DCSM_MODEL_OFFLINE: "1", DCSM_LOG_LEVEL: "warn" },
    },
  );
  const reader = proc.stdout.getReader();
  let banner = "";
  while (!banner.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`serve exited: ${await new Response(proc.stderr).text()}`);
    banner += new TextDecoder().decode(value);
  }
  const url = /on (http:\/\/\S+) and gRPC/.exec(banner)![1]!;
  return {
    proc,
    glm: createClient(GlobalLongTermMemoryService, createConnectTransport({ baseUrl: url, httpVersion: "1.1" })),
  };
}

describe("two server processes on one data directory", () => {
  test("concurrent writes and reads: nothing lost or duplicated; each index sees the other's writes", async () => {
    const dataDir = tempDir();
    const [a, b] = await Promise.all([startServe(dataDir), startServe(dataDir)]);
    try {
      const rand = prng(4);
      const enc = new TextEncoder();
      const make = (prefix: string, n: number) =>
        Array.from({ length: n }, (_, i) => ({
          id: `${prefix}-${i}`,
          content: enc.encode(`${prefix} ${i}`),
          embeddings: randomVector(384, rand),
          metadata: { writer: prefix },
        }));
      const batchesA = Array.from({ length: 10 }, (_, j) => make(`a${j}`, 30));
      const batchesB = Array.from({ length: 10 }, (_, j) => make(`b${j}`, 30));
      // Both processes write 300 KEMs each in 10 batches, interleaved with reads, at the same time;
      // the last batch of each rewrites 10 ids the other process wrote (shared upserts).
      batchesA[9]!.push(...batchesB[0]!.slice(0, 10).map((k) => ({ ...k, metadata: { writer: "a-overwrote" } })));
      const run = async (srv: typeof a, batches: ReturnType<typeof make>[]) => {
        for (const kems of batches) {
          const res = await srv.glm.batchStoreKEMs({ kems });
          expect(res.results.every((r) => r.outcome.case === "kem")).toBe(true);
          await srv.glm.retrieveKEMs({ query: { embeddingQuery: kems[0]!.embeddings }, pageSize: 5 });
        }
      };
      await Promise.all([run(a, batchesA), run(b, batchesB)]);

      for (const srv of [a, b]) {
        const ids: string[] = [];
        let token = "";
        do {
          const page = await srv.glm.retrieveKEMs({ pageSize: 200, pageToken: token });
          ids.push(...page.kems.map((k) => k.id));
          token = page.nextPageToken;
        } while (token);
        expect(ids.length).toBe(600);
        expect(new Set(ids).size).toBe(600);
        // Vector search in each process finds KEMs written by the other.
        for (const kem of [batchesA[3]![7]!, batchesB[6]![2]!]) {
          const hit = await srv.glm.retrieveKEMs({ query: { embeddingQuery: kem.embeddings }, pageSize: 1 });
          expect(hit.kems[0]!.id).toBe(kem.id);
          expect(hit.scores[0]).toBeCloseTo(1, 4);
        }
      }
      // Deletes in one process disappear from the other's vector search.
      const victim = batchesB[5]![5]!;
      await a.glm.deleteKEM({ kemId: victim.id });
      const after = await b.glm.retrieveKEMs({ query: { embeddingQuery: victim.embeddings }, pageSize: 1 });
      expect(after.kems[0]?.id).not.toBe(victim.id);
    } finally {
      a.proc.kill("SIGTERM");
      b.proc.kill("SIGTERM");
    }
    expect(await a.proc.exited).toBe(0);
    expect(await b.proc.exited).toBe(0);
  });
});
