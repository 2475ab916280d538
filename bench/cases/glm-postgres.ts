/**
 * GLM on PostgreSQL (docs/postgres.md):
 *
 * - `glm.batch-store/1000-postgres`: `BatchStoreKEMs` of 1000 KEMs with 384-dim embeddings through
 *   the service handler (validation, normalization, the PostgreSQL store's transaction, HNSW index
 *   update), against `postgres.raw-insert/1000`: the store's own write statements (the `kems`
 *   upsert from one JSON document, the `kem_meta` entries, the change-log append under its lock)
 *   sent raw with the same driver, one transaction per batch, rows prepared before the clock starts.
 * - `glm.replica-lag/postgres`: one node (a repository) stores a KEM; the time until another
 *   node's vector index has it, woken by NOTIFY (no search on the follower), p50/p99.
 *
 * Needs a PostgreSQL server (`DCSM_TEST_POSTGRES_URL`, default 127.0.0.1:5432 user postgres);
 * without one the cases report nothing and say why.
 * @module
 */
import postgres from "postgres";
import { normalizeVector } from "../../services/common/kem-mapping.ts";
import { microsToIso, nowMicros } from "../../services/common/time.ts";
import { assembleGlm } from "../../services/glm/assembly.ts";
import type { VectorIndex } from "../../services/glm/ports.ts";
import { metaHashesOf } from "../../services/glm/store/postgres-filter-plan.ts";
import { migratePostgresSchema } from "../../services/glm/store/postgres-schema.ts";
import { createPostgresKemStore } from "../../services/glm/store/postgres-store.ts";
import { createExactVectorIndex } from "../../services/glm/vector/exact-index.ts";
import { createHnswVectorIndex } from "../../services/glm/vector/hnsw-index.ts";
import { type TestPostgres, testPostgres } from "../../tests/helpers/postgres.ts";
import { compareRuns, type Sample } from "../lib/measure.ts";
import type { BenchResult } from "../lib/stats.ts";
import { makeKems, serviceBatchRun } from "./glm-batch-store.ts";

const DIM = 384;

async function server(): Promise<TestPostgres | undefined> {
  const pg = await testPostgres();
  if (!pg) console.warn("glm postgres cases: no PostgreSQL server reachable; skipped");
  return pg;
}

/** The raw statements of one batch, parameters ready. */
interface RawBatch {
  rows: string;
  meta: string;
  ids: string;
}

/**
 * Runs the PostgreSQL batch-store case: per repeat, `rounds` batches of `batch` fresh KEMs through
 * raw statements and through the service handler (each on its own database).
 */
export async function benchBatchStorePostgres(batch: number, rounds: number): Promise<BenchResult[]> {
  const pg = await server();
  if (!pg) return [];
  let seed = 500;
  const freshBatches = () => Array.from({ length: rounds }, () => makeKems(batch, seed++));
  try {
    const rawDb = await pg.createDatabase();
    const raw = postgres(rawDb.url, { max: 1, onnotice: () => {} });
    await migratePostgresSchema(raw);
    const rawRun = async (): Promise<Sample> => {
      const batches: RawBatch[] = freshBatches().map((kems) => {
        const rows = kems.map((k) => {
          const t = microsToIso(nowMicros());
          const v = normalizeVector(k.embeddings, DIM, "embeddings");
          return {
            id: k.id,
            ct: k.contentType,
            c: Buffer.from(k.content).toString("base64"),
            m: k.metadata,
            t,
            e: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("base64"),
            b: new TextDecoder().decode(k.content),
          };
        });
        const meta = rows.flatMap((r) =>
          metaHashesOf(r.m as Record<string, unknown>).map((h) => ({ h: h.toString(), t: r.t, id: r.id })),
        );
        return { rows: JSON.stringify(rows), meta: JSON.stringify(meta), ids: JSON.stringify(rows.map((r) => r.id)) };
      });
      const t0 = performance.now();
      for (const b of batches) {
        await raw.begin(async (tx) => {
          await tx.unsafe(
            `INSERT INTO kems AS k (id, content_type, content, metadata, created_at, updated_at, embedding, lexical)
             SELECT x.id, x.ct, decode(x.c, 'base64'), x.m, x.t::timestamptz, x.t::timestamptz, decode(x.e, 'base64'), to_tsvector('english', x.b)
             FROM jsonb_to_recordset($1::text::jsonb) AS x(id text, ct text, c text, m jsonb, t text, e text, b text)
             ON CONFLICT (id) DO UPDATE SET content_type = excluded.content_type, content = excluded.content, metadata = excluded.metadata,
               updated_at = excluded.updated_at, embedding = excluded.embedding, lexical = excluded.lexical`,
            [b.rows],
            { prepare: true },
          );
          await tx.unsafe(
            "INSERT INTO kem_meta (h, updated_at, id) SELECT x.h::int8, x.t::timestamptz, x.id FROM jsonb_to_recordset($1::text::jsonb) AS x(h text, t text, id text)",
            [b.meta],
            { prepare: true },
          );
          await tx.unsafe("SELECT pg_advisory_xact_lock(1145258829, 2)");
          await tx.unsafe(
            "INSERT INTO kem_changes (kem_id) SELECT jsonb_array_elements_text($1::text::jsonb)",
            [b.ids],
            { prepare: true },
          );
        });
      }
      return { n: batch * rounds, wallMs: performance.now() - t0 };
    };

    const store = await createPostgresKemStore({ url: (await pg.createDatabase()).url, maxConnections: 4 });
    const index = createHnswVectorIndex({ dimension: DIM });
    const svcRun = serviceBatchRun(await assembleGlm({ store, index }).open(), freshBatches);
    try {
      const results = await compareRuns({ name: `postgres.raw-insert/${batch}`, run: rawRun }, [
        { name: `glm.batch-store/${batch}-postgres`, run: svcRun, target: 0.5 },
      ]);
      await index.drained();
      return results;
    } finally {
      await raw.end();
      await index.close();
      await store.close();
    }
  } finally {
    await pg.close();
  }
}

/** An exact index that reports when an id arrives (the follower's replica). */
function watchedIndex(): { index: VectorIndex; arrival(id: string): Promise<void> } {
  const inner = createExactVectorIndex({ dimension: DIM });
  const waiters = new Map<string, () => void>();
  const index: VectorIndex = {
    dimension: inner.dimension,
    external: false,
    async upsert(entries) {
      await inner.upsert(entries);
      for (const e of entries) waiters.get(e.id)?.();
    },
    remove: (ids) => inner.remove(ids),
    search: (q, k, o) => inner.search(q, k, o),
    clear: () => inner.clear(),
    stats: () => inner.stats(),
    close: () => inner.close(),
  };
  return {
    index,
    arrival: (id) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`replica never received ${id} within 10 s`)), 10_000);
        waiters.set(id, () => {
          clearTimeout(timer);
          waiters.delete(id);
          resolve();
        });
      }),
  };
}

/**
 * Replica lag: node A stores one KEM at a time (`writes` per run); node B's index is woken by
 * NOTIFY and catches up from the change log. Latency = A's acknowledgement → B's index has it.
 */
export async function benchReplicaLag(writes: number): Promise<BenchResult[]> {
  const pg = await server();
  if (!pg) return [];
  try {
    const { url } = await pg.createDatabase();
    const storeA = await createPostgresKemStore({ url, maxConnections: 2 });
    const storeB = await createPostgresKemStore({ url, maxConnections: 2 });
    const repoA = (await assembleGlm({ store: storeA, index: createExactVectorIndex({ dimension: DIM }) }).open())
      .repository;
    const follower = watchedIndex();
    // Node B follows A's commits through PostgreSQL NOTIFY, as a server node does.
    const nodeB = await assembleGlm({ store: storeB, index: follower.index }).open({ follow: storeB });
    let seed = 900;
    const run = async (): Promise<Sample> => {
      const kems = makeKems(writes, seed++);
      const lat: number[] = [];
      const t0 = performance.now();
      for (const k of kems) {
        const arrived = follower.arrival(k.id);
        const write = {
          id: k.id,
          contentType: k.contentType,
          content: k.content,
          metadata: k.metadata!,
          embedding: normalizeVector(k.embeddings, DIM, "embeddings"),
        };
        await repoA.write([write]);
        const acked = performance.now();
        await arrived;
        lat.push(performance.now() - acked);
      }
      return { n: writes, wallMs: performance.now() - t0, latenciesMs: lat };
    };
    try {
      return await compareRuns(null, [{ name: "glm.replica-lag/postgres", run }]);
    } finally {
      await nodeB.stopFollowing();
      await storeA.close();
      await storeB.close();
    }
  } finally {
    await pg.close();
  }
}
