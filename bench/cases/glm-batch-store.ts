/**
 * GLM batch persistence (issues 3 and 7): `BatchStoreKEMs` of 100 and 1000 KEMs with 384-dim
 * embeddings through the service (validation, normalization, one SQLite transaction, index update)
 * against raw `bun:sqlite` inserts of the same rows in transactions of the same size.
 * @module
 */
import { Database } from "bun:sqlite";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { createHandlerContext } from "@connectrpc/connect";
import { BatchStoreKEMsRequestSchema, GlobalLongTermMemoryService } from "../../sdk/gen/dcsm/v1/glm_service_pb.ts";
import { KEMSchema, type KEM } from "../../sdk/gen/dcsm/v1/kem_pb.ts";
import { KemRepository } from "../../services/glm/kem-repository.ts";
import { createGlmService } from "../../services/glm/service.ts";
import { createSqliteKemStore } from "../../services/glm/store/sqlite-store.ts";
import { createHnswVectorIndex } from "../../services/glm/vector/hnsw-index.ts";
import { newKemId } from "../../services/shared/kem-mapping.ts";
import { microsToIso, nowMicros } from "../../services/shared/time.ts";
import { clusteredVectors } from "../lib/clustered-vectors.ts";
import type { BenchResult } from "../lib/stats.ts";

const DIM = 384;

function makeKems(count: number, seed: number): KEM[] {
  const vecs = clusteredVectors(count, DIM, { seed });
  const content = new TextEncoder().encode("A memory unit of about two hundred bytes of text content, the size of a short paragraph ".repeat(2));
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
 * Runs the batch-store case: `rounds` batches of `batch` KEMs each, service vs raw SQLite.
 * @returns the service result with its raw baseline and ratio.
 */
export async function benchBatchStore(batch: number, rounds: number): Promise<BenchResult[]> {
  const dir = mkdtempSync(join(tmpdir(), "dcsm-bench-"));
  try {
    const batches = Array.from({ length: rounds }, (_, r) => makeKems(batch, 100 + r));

    // Raw baseline: the same rows (normalized float32 blobs, JSON metadata) in one transaction per batch.
    const db = new Database(join(dir, "raw.sqlite"), { create: true });
    db.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;");
    db.exec("CREATE TABLE kems (id TEXT PRIMARY KEY, content_type TEXT NOT NULL, content BLOB NOT NULL, metadata TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL, embedding BLOB)");
    db.exec("CREATE INDEX i1 ON kems(created_at); CREATE INDEX i2 ON kems(updated_at);");
    const ins = db.prepare("INSERT INTO kems VALUES (?, ?, ?, ?, ?, ?, ?)");
    const rawBatches = batches.map((b) =>
      b.map((k) => {
        const v = new Float32Array(k.embeddings);
        return [k.id, k.contentType, k.content, JSON.stringify(k.metadata), v] as const;
      }),
    );
    const tx = db.transaction((rows: (typeof rawBatches)[number]) => {
      for (const [id, ct, content, md, v] of rows) {
        const now = microsToIso(nowMicros());
        ins.run(id, ct, content, md, now, now, new Uint8Array(v.buffer));
      }
    });
    let t0 = performance.now();
    for (const rows of rawBatches) tx(rows);
    const rawMs = performance.now() - t0;
    db.close();

    // Service path, in process: the handler an RPC reaches (validation, normalization, SQLite
    // transaction, change log, index update), called directly — the wire is measured by the RPC cases.
    const store = createSqliteKemStore({ path: join(dir, "glm.sqlite") });
    const index = createHnswVectorIndex({ dimension: DIM });
    const repository = new KemRepository({ store, index });
    await repository.open();
    const impl = createGlmService({ repository });
    const method = GlobalLongTermMemoryService.method.batchStoreKEMs;
    const ctx = createHandlerContext({
      service: GlobalLongTermMemoryService,
      method,
      protocolName: "in-process",
      requestMethod: "POST",
      url: "http://localhost/dcsm.v1.GlobalLongTermMemoryService/BatchStoreKEMs",
    });
    const requests = batches.map((kems) => create(BatchStoreKEMsRequestSchema, { kems }));
    t0 = performance.now();
    for (const req of requests) await impl.batchStoreKEMs(req, ctx);
    const svcMs = performance.now() - t0;
    await index.drained();
    await index.close();
    store.close();

    const n = batch * rounds;
    const raw: BenchResult = { case: `sqlite.raw-insert/${batch}`, n, opsPerSec: n / (rawMs / 1000) };
    const svc: BenchResult = {
      case: `glm.batch-store/${batch}`,
      n,
      opsPerSec: n / (svcMs / 1000),
      baseline: raw.case,
      baselineOpsPerSec: raw.opsPerSec,
      ratio: n / (svcMs / 1000) / raw.opsPerSec,
      extra: { batchesPerSec: rounds / (svcMs / 1000) },
    };
    return [raw, svc];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
