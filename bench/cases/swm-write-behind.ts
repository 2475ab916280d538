/**
 * SWM write-behind drain rate into GLM: a real server's SWM (in-process backend with its SQLite
 * queue, or Redis with its stream queue) gets `N` KEMs with 384-dim embeddings published with
 * `persist_to_glm_if_new_or_updated` (64 in flight, handler called in process), and the clock
 * stops when its worker has stored all of them in GLM (batches of `DCSM_SWM_WRITE_BEHIND_BATCH`,
 * default 100). Baseline: raw `bun:sqlite` inserts of the same rows in transactions of that size.
 * @module
 */
import { Database } from "bun:sqlite";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { createHandlerContext } from "@connectrpc/connect";
import { PublishKEMToSWMRequestSchema, SharedWorkingMemoryService } from "../../sdk/gen/dcsm/v1/swm_service_pb.ts";
import { newKemId } from "../../services/shared/kem-mapping.ts";
import { microsToIso, nowMicros } from "../../services/shared/time.ts";
import { clusteredVectors } from "../lib/clustered-vectors.ts";
import { benchDir, benchServer, type BenchServer } from "../lib/fixtures.ts";
import { compareRuns, pool, type Sample } from "../lib/measure.ts";
import type { BenchResult } from "../lib/stats.ts";
import { IN_FLIGHT } from "./swm.ts";

const DIM = 384;
/** KEMs per repeat. */
const N = 2000;
const CONTENT = new TextEncoder().encode("A note published to SWM and persisted to GLM by the write-behind worker. ".repeat(3));

interface Item {
  id: string;
  embedding: Float32Array;
  metadata: { topic: string; n: number };
}

let seed = 500;
function items(): Item[] {
  const vecs = clusteredVectors(N, DIM, { seed: seed++ });
  return Array.from({ length: N }, (_, i) => ({ id: newKemId(), embedding: vecs.subarray(i * DIM, (i + 1) * DIM), metadata: { topic: `t${i % 10}`, n: i } }));
}

/** Publishes N KEMs with write-behind and waits until the worker has persisted them all. */
function drainRun({ server }: BenchServer): () => Promise<Sample> {
  const impl = server.swm.service;
  const ctx = createHandlerContext({ service: SharedWorkingMemoryService, method: SharedWorkingMemoryService.method.publishKEMToSWM, protocolName: "in-process", requestMethod: "POST", url: "http://localhost/" });
  return async () => {
    const batch = items();
    const before = (await server.swm.writeBehindStats()).persisted;
    const t0 = performance.now();
    await pool(N, IN_FLIGHT, (i) => {
      const it = batch[i]!;
      const req = create(PublishKEMToSWMRequestSchema, { agentId: "bench", persistToGlmIfNewOrUpdated: true, kemToPublish: { id: it.id, contentType: "text/plain", content: CONTENT, metadata: it.metadata, embeddings: Array.from(it.embedding) } });
      return impl.publishKEMToSWM!(req, ctx) as Promise<unknown>;
    });
    const publishedMs = performance.now() - t0;
    const deadline = Date.now() + 120_000;
    for (;;) {
      const s = await server.swm.writeBehindStats();
      if (s.persisted - before >= N && s.depth === 0) break;
      if (s.rejected > 0) throw new Error(`write-behind rejected ${s.rejected} KEMs`);
      if (Date.now() > deadline) throw new Error(`write-behind did not drain: ${JSON.stringify(s)}`);
      await Bun.sleep(5);
    }
    return { n: N, wallMs: performance.now() - t0, extra: { publishMs: Math.round(publishedMs) } };
  };
}

/** `swm.write-behind/{memory,redis}` against `sqlite.raw-insert/wb-<batch>`. */
export async function benchWriteBehind(): Promise<BenchResult[]> {
  const mem = await benchServer("memory");
  const red = await benchServer("redis");
  const batchSize = mem.config.swmWriteBehindBatch;
  const db = new Database(join(benchDir(), "raw.sqlite"), { create: true });
  db.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;");
  db.exec("CREATE TABLE kems (id TEXT PRIMARY KEY, content_type TEXT NOT NULL, content BLOB NOT NULL, metadata TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL, embedding BLOB)");
  db.exec("CREATE INDEX i1 ON kems(created_at); CREATE INDEX i2 ON kems(updated_at);");
  const ins = db.prepare("INSERT INTO kems VALUES (?, ?, ?, ?, ?, ?, ?)");
  const tx = db.transaction((rows: Item[]) => {
    for (const r of rows) {
      const now = microsToIso(nowMicros());
      ins.run(r.id, "text/plain", CONTENT, JSON.stringify(r.metadata), now, now, new Uint8Array(r.embedding.buffer, r.embedding.byteOffset, r.embedding.byteLength));
    }
  });
  const rawRun = async (): Promise<Sample> => {
    const rows = items();
    const t0 = performance.now();
    for (let i = 0; i < rows.length; i += batchSize) tx(rows.slice(i, i + batchSize));
    return { n: N, wallMs: performance.now() - t0 };
  };
  try {
    return await compareRuns({ name: `sqlite.raw-insert/wb-${batchSize}`, run: rawRun }, [
      { name: "swm.write-behind/memory", run: drainRun(mem) },
      { name: "swm.write-behind/redis", run: drainRun(red) },
    ]);
  } finally {
    db.close();
  }
}
