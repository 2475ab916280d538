/**
 * Many stateless nodes, one PostgreSQL (docs/postgres.md): three `dcsm serve` processes on their
 * own ports and data folders share one database. A KEM stored through any node is found by id, by
 * text and by vector on every other node; concurrent batches through all nodes are each stored
 * exactly once; idempotency keys hold across nodes; kill -9 of a node during a batch loses no
 * acknowledged write, and the node restarted on its data folder has every write made meanwhile.
 * The cross-node visibility delay is printed (the bench case
 * glm.replica-lag/postgres measures the replica itself).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type Client, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { GlobalLongTermMemoryService } from "../../sdk/gen/dcsm/v1/glm_service_pb.ts";
import { SearchMode } from "../../sdk/gen/dcsm/v1/kem_pb.ts";
import { testPostgres } from "../helpers/postgres.ts";
import { type ServeProcess, startServeProcess } from "../helpers/serve-process.ts";
import { removeTempDirs, tempDir } from "../helpers/temp-dir.ts";
import { prng, randomVector } from "../helpers/vectors.ts";
import { waitFor } from "../helpers/wait-for.ts";

const pg = await testPostgres();
const running: ServeProcess[] = [];
afterAll(async () => {
  for (const p of running) p.proc.kill("SIGKILL");
  await Promise.all(running.map((p) => p.proc.exited));
  await pg?.close();
  removeTempDirs();
});

const enc = new TextEncoder();
const DIM = 384;
type Glm = Client<typeof GlobalLongTermMemoryService>;

function glmClient(url: string): Glm {
  return createClient(
    GlobalLongTermMemoryService,
    createConnectTransport({ baseUrl: url, httpVersion: "1.1", useBinaryFormat: true }),
  );
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}

describe.skipIf(!pg)("three dcsm serve nodes on one PostgreSQL", () => {
  let url = "";
  const nodes: { proc: ServeProcess; glm: Glm; dir: string }[] = [];
  const rand = prng(20261126);

  beforeAll(async () => {
    url = (await pg!.createDatabase()).url;
    const dirs = [tempDir(), tempDir(), tempDir()];
    const procs = await Promise.all(
      dirs.map((dir) => startServeProcess(dir, { DCSM_POSTGRES_URL: url, DCSM_POSTGRES_POOL: "4" }, 120_000)),
    );
    running.push(...procs);
    for (const [i, p] of procs.entries()) nodes.push({ proc: p, glm: glmClient(p.url), dir: dirs[i]! });
  }, 180_000);

  test("a KEM stored through any node is found by id, text and vector on every other node", async () => {
    const delays: number[] = [];
    for (let round = 0; round < 30; round++) {
      const from = round % 3;
      const id = `vis-${round}`;
      const word = `zebrafish${round}quartz`;
      const embeddings = randomVector(DIM, rand);
      const res = await nodes[from]!.glm.storeKEM({
        kem: { id, content: enc.encode(`cluster note ${word}`), embeddings, metadata: { round } },
      });
      const acked = performance.now();
      expect(res.kem!.id).toBe(id);
      for (let to = 0; to < 3; to++) {
        if (to === from) continue;
        const glm = nodes[to]!.glm;
        for (;;) {
          const hit = await glm.retrieveKEMs({ query: { embeddingQuery: embeddings }, pageSize: 1 });
          if (hit.kems[0]?.id === id) break;
          await Bun.sleep(1);
        }
        delays.push(performance.now() - acked);
        expect((await glm.retrieveKEMs({ query: { ids: [id] } })).kems.map((k) => k.id)).toEqual([id]);
        const text = await glm.retrieveKEMs({
          query: { textQuery: word, searchMode: SearchMode.LEXICAL },
          pageSize: 5,
        });
        expect(text.kems.map((k) => k.id)).toEqual([id]);
      }
    }
    console.log(
      `cross-node visibility (ack on one node → top vector hit on another), ${delays.length} samples: p50 ${percentile(delays, 50).toFixed(1)} ms, p99 ${percentile(delays, 99).toFixed(1)} ms, max ${Math.max(...delays).toFixed(1)} ms`,
    );
  }, 120_000);

  test("concurrent batches through all nodes are each stored exactly once, and every index has every vector", async () => {
    const batches = Array.from({ length: 12 }, (_, b) =>
      Array.from({ length: 40 }, (_, i) => ({
        id: `cb-${b}-${i}`,
        content: enc.encode(`batch ${b} item ${i}`),
        embeddings: randomVector(DIM, rand),
        metadata: { group: "concurrent" },
      })),
    );
    await Promise.all(
      batches.map(async (kems, b) => {
        const res = await nodes[b % 3]!.glm.batchStoreKEMs({ kems });
        expect(res.results.every((r) => r.outcome.case === "kem")).toBe(true);
      }),
    );
    for (const { glm } of nodes) {
      const ids: string[] = [];
      let token = "";
      do {
        const page = await glm.retrieveKEMs({
          query: { metadataFilters: { group: { kind: { case: "stringValue", value: "concurrent" } } } },
          pageSize: 200,
          pageToken: token,
        });
        ids.push(...page.kems.map((k) => k.id));
        token = page.nextPageToken;
      } while (token);
      expect(ids.length).toBe(12 * 40);
      expect(new Set(ids).size).toBe(12 * 40);
      for (const kem of [batches[0]![3]!, batches[5]![17]!, batches[11]![39]!]) {
        const hit = await glm.retrieveKEMs({ query: { embeddingQuery: kem.embeddings }, pageSize: 1 });
        expect(hit.kems[0]!.id).toBe(kem.id);
      }
    }
  }, 120_000);

  test("an idempotency key sent to every node at once stores one KEM", async () => {
    for (let round = 0; round < 5; round++) {
      const results = await Promise.all(
        nodes.map(({ glm }, n) =>
          glm.batchStoreKEMs({
            kems: [
              { content: enc.encode(`retry ${round} via ${n}`), metadata: { namespace: "idem", idemRound: round } },
            ],
            idempotencyKeys: [`key-${round}`],
          }),
        ),
      );
      const ids = new Set(
        results.map((r) => (r.results[0]!.outcome.case === "kem" ? r.results[0]!.outcome.value.id : "error")),
      );
      expect(ids.size).toBe(1);
      expect(ids.has("error")).toBe(false);
      const stored = await nodes[round % 3]!.glm.retrieveKEMs({
        query: { metadataFilters: { idemRound: { kind: { case: "numberValue", value: round } } } },
        pageSize: 10,
      });
      expect(stored.kems.map((k) => k.id)).toEqual([...ids]);
    }
  }, 60_000);

  test("kill -9 of a node during batches loses no acknowledged write", async () => {
    const victim = nodes[2]!;
    const acked = new Map<string, number[]>();
    let batchNo = 0;
    let stop = false;
    const writers = Array.from({ length: 3 }, async () => {
      while (!stop) {
        const b = batchNo++;
        const kems = Array.from({ length: 25 }, (_, i) => ({
          id: `k9-${b}-${i}`,
          content: enc.encode(`kill ${b} ${i}`),
          embeddings: randomVector(DIM, rand),
        }));
        try {
          const res = await victim.glm.batchStoreKEMs({ kems });
          if (res.results.every((r) => r.outcome.case === "kem")) for (const k of kems) acked.set(k.id, k.embeddings);
        } catch {
          return;
        }
      }
    });
    await waitFor(() => acked.size >= 200, { timeoutMs: 60_000, intervalMs: 5, what: "200 acknowledged writes" });
    await victim.proc.kill9();
    stop = true;
    await Promise.all(writers);
    const survivor = nodes[0]!.glm;
    const ids = [...acked.keys()];
    for (let i = 0; i < ids.length; i += 500) {
      const got = await survivor.retrieveKEMs({ query: { ids: ids.slice(i, i + 500) }, pageSize: 500 });
      expect(got.kems.length).toBe(Math.min(500, ids.length - i));
    }
    for (const id of ids.filter((_, i) => i % 20 === 0)) {
      const hit = await nodes[1]!.glm.retrieveKEMs({ query: { embeddingQuery: acked.get(id)! }, pageSize: 1 });
      expect(hit.kems[0]!.id).toBe(id);
    }
    // While it is down, the others write; restarted on its data folder, it has everything.
    const later = Array.from({ length: 30 }, (_, i) => ({
      id: `down-${i}`,
      content: enc.encode(`while down ${i}`),
      embeddings: randomVector(DIM, rand),
    }));
    await nodes[1]!.glm.batchStoreKEMs({ kems: later });
    const restarted = await startServeProcess(victim.dir, { DCSM_POSTGRES_URL: url, DCSM_POSTGRES_POOL: "4" }, 120_000);
    running.push(restarted);
    const glm = glmClient(restarted.url);
    for (const kem of [
      later[0]!,
      later[29]!,
      ...ids.filter((_, i) => i % 50 === 0).map((id) => ({ id, embeddings: acked.get(id)! })),
    ]) {
      const hit = await glm.retrieveKEMs({ query: { embeddingQuery: kem.embeddings }, pageSize: 1 });
      expect(hit.kems[0]!.id).toBe(kem.id);
    }
  }, 180_000);
});
