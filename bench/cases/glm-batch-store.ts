/**
 * GLM batch persistence (bench/README.md "Targets"): `BatchStoreKEMs` of 100 and 1000 KEMs with 384-dim
 * embeddings through the service (validation, normalization, one SQLite transaction, index update)
 * and over Connect binary to a real server, against raw `bun:sqlite` writes of the same rows and
 * index entries (metadata index, FTS5) in transactions of the same size.
 * @module
 */
import { Database } from "bun:sqlite";
import { join } from "node:path";
import { create, type JsonObject } from "@bufbuild/protobuf";
import { createClient, createHandlerContext } from "@connectrpc/connect";
import { BatchStoreKEMsRequestSchema, GlobalLongTermMemoryService } from "../../sdk/gen/dcsm/v1/glm_service_pb.ts";
import { type KEM, KEMSchema } from "../../sdk/gen/dcsm/v1/kem_pb.ts";
import { newKemId } from "../../services/common/kem-mapping.ts";
import { microsToIso, nowMicros } from "../../services/common/time.ts";
import { assembleGlm, type Glm } from "../../services/glm/assembly.ts";
import { metadataTagsOf } from "../../services/glm/store/metadata-index.ts";
import { TABLES } from "../../services/glm/store/sqlite-schema.ts";
import { createSqliteKemStore } from "../../services/glm/store/sqlite-store.ts";
import { createHnswVectorIndex } from "../../services/glm/vector/hnsw-index.ts";
import { clusteredVectors } from "../lib/clustered-vectors.ts";
import { benchDir, benchServer } from "../lib/fixtures.ts";
import { compareRuns, type Sample } from "../lib/measure.ts";
import type { BenchResult } from "../lib/stats.ts";
import { transportFor } from "../lib/transports.ts";

const DIM = 384;

/** `count` KEMs of about 200 bytes of text, three metadata keys and a clustered 384-dim embedding. */
export function makeKems(count: number, seed: number): KEM[] {
  const vecs = clusteredVectors(count, DIM, { seed });
  const content = new TextEncoder().encode(
    "A memory unit of about two hundred bytes of text content, the size of a short paragraph ".repeat(2),
  );
  return Array.from({ length: count }, (_, i) =>
    create(KEMSchema, {
      id: newKemId(),
      contentType: "text/plain",
      content,
      metadata: { source: "bench", chunk_index: i, topic: i % 2 ? "a" : "b" },
      embeddings: Array.from(vecs.subarray(i * DIM, (i + 1) * DIM)),
    }),
  );
}

/**
 * A timed run of the BatchStoreKEMs handler (what an RPC reaches in process: validation,
 * normalization, the store transaction, change log, index update), called directly.
 * @param glm - the assembled GLM whose handler is called (opened).
 * @param batches - makes the run's batches (outside the timed part).
 */
export function serviceBatchRun(glm: Glm, batches: () => KEM[][]): () => Promise<Sample> {
  const impl = glm.service;
  const method = GlobalLongTermMemoryService.method.batchStoreKEMs;
  const ctx = createHandlerContext({
    service: GlobalLongTermMemoryService,
    method,
    protocolName: "in-process",
    requestMethod: "POST",
    url: "http://localhost/dcsm.v1.GlobalLongTermMemoryService/BatchStoreKEMs",
  });
  return async () => {
    const requests = batches().map((kems) => create(BatchStoreKEMsRequestSchema, { kems }));
    const n = requests.reduce((sum, r) => sum + r.kems.length, 0);
    const t0 = performance.now();
    for (const req of requests) await impl.batchStoreKEMs(req, ctx);
    return { n, wallMs: performance.now() - t0 };
  };
}

/**
 * Runs the batch-store case: per repeat, `rounds` batches of `batch` fresh KEMs each through raw
 * SQLite, the service handler, and Connect binary to a real server.
 * @returns the raw baseline, then the service and RPC results with their ratios (KEMs/s).
 */
export async function benchBatchStore(batch: number, rounds: number): Promise<BenchResult[]> {
  const dir = benchDir();
  let seed = 100;
  const freshBatches = () => Array.from({ length: rounds }, () => makeKems(batch, seed++));

  // Raw baseline: the same writes GLM makes, hand-written: the row (normalized float32 blob, JSON
  // metadata), one kem_meta entry per scalar metadata value, and the FTS5 row with its metadata
  // tags, in the same schema, one transaction per batch.
  const db = new Database(join(dir, "raw.sqlite"), { create: true });
  db.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;");
  db.exec(TABLES);
  const ins = db.prepare<{ rid: number }, [string, string, Uint8Array, string, string, string, Uint8Array]>(
    "INSERT INTO kems (id, content_type, content, metadata, created_at, updated_at, embedding) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING rid",
  );
  const insMeta = db.prepare("INSERT INTO kem_meta (key, value, updated_at, id, rid) VALUES (?, ?, ?, ?, ?)");
  const insFts = db.prepare("INSERT INTO kem_fts (rowid, body, tags) VALUES (?, ?, ?)");
  const dec = new TextDecoder();
  type Row = readonly [string, string, Uint8Array, JsonObject, Float32Array];
  const tx = db.transaction((rows: Row[]) => {
    for (const [id, ct, content, md, v] of rows) {
      const now = microsToIso(nowMicros());
      const { rid } = ins.get(id, ct, content, JSON.stringify(md), now, now, new Uint8Array(v.buffer))!;
      for (const key in md) insMeta.run(key, md[key] as string | number, now, id, rid);
      insFts.run(rid, dec.decode(content), metadataTagsOf(md));
    }
  });
  const rawRun = async (): Promise<Sample> => {
    const rows = freshBatches().map((b) =>
      b.map((k): Row => [k.id, k.contentType, k.content, k.metadata as JsonObject, new Float32Array(k.embeddings)]),
    );
    const t0 = performance.now();
    for (const r of rows) tx(r);
    return { n: batch * rounds, wallMs: performance.now() - t0 };
  };

  // Service path, in process: the handler an RPC reaches (validation, normalization, SQLite
  // transaction, change log, index update), called directly.
  const store = createSqliteKemStore({ path: join(dir, "glm.sqlite") });
  const index = createHnswVectorIndex({ dimension: DIM });
  const svcRun = serviceBatchRun(await assembleGlm({ store, index }).open(), freshBatches);

  // Full RPC stack: Connect binary over fetch to a real server (its GLM: SQLite + HNSW index).
  const { server } = await benchServer("memory");
  const glm = createClient(GlobalLongTermMemoryService, transportFor(server, "connect-binary"));
  const rpcRun = async (): Promise<Sample> => {
    const batches = freshBatches();
    const t0 = performance.now();
    for (const kems of batches) await glm.batchStoreKEMs({ kems });
    return { n: batch * rounds, wallMs: performance.now() - t0 };
  };
  try {
    const results = await compareRuns({ name: `sqlite.raw-insert/${batch}`, run: rawRun }, [
      { name: `glm.batch-store/${batch}`, run: svcRun, target: batch === 1000 ? 0.5 : undefined },
      { name: `glm.batch-store/${batch}-connect-binary`, run: rpcRun },
    ]);
    await index.drained();
    return results;
  } finally {
    db.close();
    await index.close();
    await store.close();
  }
}
