/**
 * kill -9 of `dcsm serve` during batch writes: a client keeps sending
 * BatchStoreKEMs (random 384-dim embeddings) and records every id whose batch was acknowledged;
 * the server is SIGKILLed mid-stream and restarted on the same data folder. Every acknowledged id
 * must be in SQLite (RetrieveKEMs by ids), found first by vector search with its own embedding
 * (store and vector index agree), and stored once. Runs with the HNSW index (after a clean stop
 * that wrote a graph snapshot, so the restart restores it and catches up from SQLite's change
 * log) and with the exact index.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { type Client, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { GlobalLongTermMemoryService } from "../../sdk/gen/dcsm/v1/glm_service_pb.ts";
import { type ServeProcess, startServeProcess } from "../helpers/serve-process.ts";
import { removeTempDirs, tempDir } from "../helpers/temp-dir.ts";
import { prng, randomVector } from "../helpers/vectors.ts";

const running: ServeProcess[] = [];
afterAll(async () => {
  for (const p of running) p.proc.kill("SIGKILL");
  removeTempDirs();
});

const enc = new TextEncoder();
const DIM = 384;
const BATCH = 50;

function glmClient(url: string): Client<typeof GlobalLongTermMemoryService> {
  return createClient(
    GlobalLongTermMemoryService,
    createConnectTransport({ baseUrl: url, httpVersion: "1.1", useBinaryFormat: true }),
  );
}

/** Acknowledged ids with their embeddings, and the ids of batches sent but never acknowledged. */
interface Writes {
  acked: Map<string, number[]>;
  unacked: Set<string>;
}

/**
 * Sends batches from `writers` concurrent loops until `stop` resolves or a call fails (the kill).
 * @returns the acknowledged ids and those of the batches in flight when the calls failed.
 */
async function writeUntilFailure(
  glm: Client<typeof GlobalLongTermMemoryService>,
  prefix: string,
  writers: number,
  into: Writes,
  onAck: () => void,
): Promise<void> {
  const rand = prng(prefix.length * 7919 + writers);
  let batchNo = 0;
  await Promise.all(
    Array.from({ length: writers }, async () => {
      for (;;) {
        const b = batchNo++;
        const kems = Array.from({ length: BATCH }, (_, i) => ({
          id: `${prefix}-${b}-${i}`,
          content: enc.encode(`${prefix} ${b} ${i}`),
          embeddings: randomVector(DIM, rand),
          metadata: { batch: b },
        }));
        for (const k of kems) into.unacked.add(k.id);
        try {
          const res = await glm.batchStoreKEMs({ kems });
          expect(res.results.every((r) => r.outcome.case === "kem")).toBe(true);
        } catch {
          return; // the server died with this batch in flight
        }
        for (const k of kems) {
          into.unacked.delete(k.id);
          into.acked.set(k.id, k.embeddings);
        }
        onAck();
      }
    }),
  );
}

/** Every KEM id in the store, paging through RetrieveKEMs without a query. */
async function allIds(glm: Client<typeof GlobalLongTermMemoryService>): Promise<string[]> {
  const ids: string[] = [];
  let pageToken = "";
  do {
    const page = await glm.retrieveKEMs({ pageSize: 1000, pageToken });
    ids.push(...page.kems.map((k) => k.id));
    pageToken = page.nextPageToken;
  } while (pageToken);
  return ids;
}

/** Checks store and vector index for every acknowledged id; returns counts for the report. */
async function verify(glm: Client<typeof GlobalLongTermMemoryService>, writes: Writes) {
  const acked = [...writes.acked.keys()];
  let present = 0;
  for (let i = 0; i < acked.length; i += 1000) {
    const chunk = acked.slice(i, i + 1000);
    const res = await glm.retrieveKEMs({ query: { ids: chunk }, pageSize: 1000 });
    present += res.kems.length;
    const got = new Set(res.kems.map((k) => k.id));
    const missing = chunk.filter((id) => !got.has(id));
    expect(missing).toEqual([]);
  }
  // Every id of the killed phase, and every 10th id before it (tens of thousands of searches
  // over HTTP would dominate the run).
  let searchMisses = 0;
  let searched = 0;
  let n = 0;
  for (const [id, vec] of writes.acked) {
    if (!id.startsWith("p2-") && n++ % 10 !== 0) continue;
    searched++;
    const hit = await glm.retrieveKEMs({ query: { embeddingQuery: vec }, pageSize: 1 });
    if (hit.kems[0]?.id !== id || !(hit.scores[0]! > 0.9999)) {
      searchMisses++;
      const wide = await glm.retrieveKEMs({ query: { embeddingQuery: vec }, pageSize: 100 });
      console.log(
        `search miss: ${id} (top hit ${hit.kems[0]?.id} score ${hit.scores[0]}; rank in top 100: ${wide.kems.findIndex((k) => k.id === id)})`,
      );
    }
  }
  const ids = await allIds(glm);
  const known = new Set([...writes.acked.keys(), ...writes.unacked]);
  return {
    acked: acked.length,
    present,
    searched,
    searchMisses,
    total: ids.length,
    unique: new Set(ids).size,
    unknown: ids.filter((id) => !known.has(id)).length,
    inFlightStored: ids.filter((id) => writes.unacked.has(id)).length,
  };
}

for (const vectorIndex of ["hnsw", "exact"] as const) {
  describe(`kill -9 during BatchStoreKEMs (DCSM_VECTOR_INDEX=${vectorIndex})`, () => {
    test("every acknowledged KEM is stored once and found by its own embedding after a restart", async () => {
      const dataDir = tempDir("dcsm-kill9-");
      const env = { DCSM_VECTOR_INDEX: vectorIndex };
      const writes: Writes = { acked: new Map(), unacked: new Set() };

      // Phase 1: some data, then a clean stop (HNSW writes its graph snapshot on close). With HNSW,
      // over the 20k exact-search threshold, so searches after the restart go through the graph.
      const phase1Batches = vectorIndex === "hnsw" ? 430 : 20;
      let srv = await startServeProcess(dataDir, env);
      running.push(srv);
      let glm = glmClient(srv.url);
      let acks = 0;
      const first = writeUntilFailure(glm, "p1", 2, writes, () => {
        if (++acks === phase1Batches) void srv.stop();
      });
      await first;
      expect(await srv.proc.exited).toBe(0);
      expect(writes.acked.size).toBeGreaterThanOrEqual(phase1Batches * BATCH);

      // Phase 2: restart (snapshot restored), write continuously, kill -9 mid-stream.
      srv = await startServeProcess(dataDir, env);
      running.push(srv);
      glm = glmClient(srv.url);
      acks = 0;
      const t0 = performance.now();
      let killedAt = 0;
      await writeUntilFailure(glm, "p2", 3, writes, () => {
        if (++acks === 40 && killedAt === 0) {
          killedAt = performance.now() - t0;
          srv.proc.kill("SIGKILL");
        }
      });
      await srv.proc.exited;
      expect(srv.proc.signalCode).toBe("SIGKILL");

      // Phase 3: restart on the same folder and check.
      const t1 = performance.now();
      srv = await startServeProcess(dataDir, env);
      running.push(srv);
      const restartMs = performance.now() - t1;
      glm = glmClient(srv.url);
      const r = await verify(glm, writes);
      console.log(
        `kill -9 (${vectorIndex}): killed after ${killedAt.toFixed(0)} ms of writes; restart ${restartMs.toFixed(0)} ms; acked ${r.acked}, present ${r.present}, search misses ${r.searchMisses} of ${r.searched}, rows ${r.total} (unique ${r.unique}), in-flight batches' rows stored ${r.inFlightStored} of ${writes.unacked.size}`,
      );
      expect(r.present).toBe(r.acked);
      // Exact search must find every KEM first. The HNSW graph (over 20k vectors here) is
      // approximate: on uniformly random 384-dim vectors, its worst case, one self-query in a few
      // thousand has been seen to miss (1 of 4155 in one of five runs). A KEM lost between store and
      // index after the kill would miss as a whole batch of 50, far above this allowance.
      expect(r.searchMisses).toBeLessThanOrEqual(vectorIndex === "exact" ? 0 : Math.floor(r.searched / 1000));
      expect(r.unique).toBe(r.total); // no duplicates
      expect(r.unknown).toBe(0);
      // Rows of a batch in flight at the kill are all there or all absent (one transaction each).
      expect(r.inFlightStored % BATCH).toBe(0);
      expect(r.total).toBe(r.acked + r.inFlightStored);
      expect(await srv.stop()).toBe(0);
    }, 180_000);
  });
}
