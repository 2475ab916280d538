/**
 * The raw baselines of the write-behind bench (`swm-write-behind.ts`) and the KEMs they share
 * with it: `N` items with clustered 384-d embeddings; raw `bun:sqlite` inserts of their rows
 * ({@link rawSqlite}), raw `bun:sqlite` doing GLM's per-KEM writes ({@link rawGlmWrites}), the
 * in-process floor ({@link rawQueueAndGlmWrites}) and the Redis composite ({@link compositeRun}).
 * No DCSM code runs in them but the record codec, GLM's schema DDL and its metadata/lexical helpers.
 * @module
 */
import { Database } from "bun:sqlite";
import { join } from "node:path";
import { v7 as uuidv7 } from "uuid";
import { newKemId } from "../../services/common/kem-mapping.ts";
import type { KemRecord } from "../../services/common/kem-record.ts";
import { microsToIso, nowMicros } from "../../services/common/time.ts";
import { lexicalBodyOf } from "../../services/glm/lexical/lexical-text.ts";
import { indexedEntriesOf, metadataTagsOf } from "../../services/glm/store/metadata-index.ts";
import { TABLES } from "../../services/glm/store/sqlite-schema.ts";
import type { RedisConnection } from "../../services/swm/redis/connection.ts";
import { encodeRecord } from "../../services/write-behind/codec.ts";
import { clusteredVectors } from "../lib/clustered-vectors.ts";
import { pool, type Sample } from "../lib/measure.ts";
import { IN_FLIGHT } from "./swm.ts";

const DIM = 384;
/** KEMs per repeat. */
export const N = 2000;
export const CONTENT = new TextEncoder().encode(
  "A note published to SWM and persisted to GLM by the write-behind worker. ".repeat(3),
);

export interface Item {
  id: string;
  embedding: Float32Array;
  metadata: { topic: string; n: number };
}

let seed = 500;
export function items(): Item[] {
  const vecs = clusteredVectors(N, DIM, { seed: seed++ });
  return Array.from({ length: N }, (_, i) => ({
    id: newKemId(),
    embedding: vecs.subarray(i * DIM, (i + 1) * DIM),
    metadata: { topic: `t${i % 10}`, n: i },
  }));
}

/**
 * The values of a `kems` row for `r` in column order (id, content_type, content, metadata,
 * created_at, updated_at, embedding), both times `now`, the embedding as its float32 bytes.
 */
function kemRowValues(r: Item, now: string): [string, string, Uint8Array, string, string, string, Uint8Array] {
  const embedding = new Uint8Array(r.embedding.buffer, r.embedding.byteOffset, r.embedding.byteLength);
  return [r.id, "text/plain", CONTENT, JSON.stringify(r.metadata), now, now, embedding];
}

/** Raw `bun:sqlite` inserts of the bench's rows (the table GLM's rows resemble), one transaction per batch. */
export function rawSqlite(dir: string) {
  const db = new Database(join(dir, "raw.sqlite"), { create: true });
  db.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;");
  db.exec(
    "CREATE TABLE kems (id TEXT PRIMARY KEY, content_type TEXT NOT NULL, content BLOB NOT NULL, metadata TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL, embedding BLOB)",
  );
  db.exec("CREATE INDEX i1 ON kems(created_at); CREATE INDEX i2 ON kems(updated_at);");
  const ins = db.prepare("INSERT INTO kems VALUES (?, ?, ?, ?, ?, ?, ?)");
  const insert = db.transaction((rows: Item[]) => {
    for (const r of rows) {
      const now = microsToIso(nowMicros());
      ins.run(...kemRowValues(r, now));
    }
  });
  return { insert, close: () => db.close() };
}

/**
 * Raw `bun:sqlite` doing, per KEM, the writes GLM's SQLite schema asks for (`sqlite-schema.ts`):
 * the `kems` row, its `kem_meta` entries, its `kem_fts` row (written last in the transaction, as
 * GLM does), an idempotency key and a change-log entry; one transaction per batch. No validation,
 * no upsert or idempotency lookups, no vector index.
 */
export function rawGlmWrites(dir: string) {
  const db = new Database(join(dir, "raw-glm.sqlite"), { create: true });
  db.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;");
  db.exec(TABLES);
  const row = db.prepare<{ rid: number }, [string, string, Uint8Array, string, string, string, Uint8Array]>(
    "INSERT INTO kems (id, content_type, content, metadata, created_at, updated_at, embedding) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING rid",
  );
  const meta = db.prepare("INSERT INTO kem_meta (key, value, updated_at, id, rid) VALUES (?, ?, ?, ?, ?)");
  const fts = db.prepare("INSERT INTO kem_fts (rowid, body, tags) VALUES (?, ?, ?)");
  const key = db.prepare("INSERT INTO idempotency_keys (scope, key, kem_id, created_at) VALUES ('', ?, ?, ?)");
  const change = db.prepare("INSERT INTO kem_changes (kem_id) VALUES (?)");
  const insert = db.transaction((rows: Item[]) => {
    const text: [number, string, string][] = [];
    for (const r of rows) {
      const now = microsToIso(nowMicros());
      const { rid } = row.get(...kemRowValues(r, now))!;
      for (const [k, v] of indexedEntriesOf(r.metadata)) meta.run(k, v, now, r.id, rid);
      key.run(uuidv7(), r.id, now);
      change.run(r.id);
      text.push([rid, lexicalBodyOf("text/plain", CONTENT)!, metadataTagsOf(r.metadata)]);
    }
    for (const [rid, body, tags] of text) fts.run(rid, body, tags);
  });
  return { insert, close: () => db.close() };
}

/**
 * The floor of the in-process case: raw `bun:sqlite` doing only the writes any durable SQLite
 * write-behind into GLM's schema must make per KEM — the record's bytes (encoded before the clock)
 * inserted into a queue table shaped like the real queue's, then per batch the GLM writes of
 * {@link rawGlmWrites} and the queue rows deleted — each step one transaction per batch (fewer
 * commits than a real queue, whose enqueues commit per group of concurrent publishes). No RPC,
 * no validation, no working set, no leases, no vector index.
 */
export function rawQueueAndGlmWrites(dir: string, glm: ReturnType<typeof rawGlmWrites>) {
  const db = new Database(join(dir, "raw-queue.sqlite"), { create: true });
  db.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;");
  db.exec(
    "CREATE TABLE q (seq INTEGER PRIMARY KEY AUTOINCREMENT, idempotency_key TEXT NOT NULL, kem BLOB NOT NULL, enqueued_at_ms INTEGER NOT NULL)",
  );
  db.exec("CREATE INDEX q_enqueued ON q (enqueued_at_ms)");
  const ins = db.prepare<{ seq: number }, [string, Uint8Array, number]>(
    "INSERT INTO q (idempotency_key, kem, enqueued_at_ms) VALUES (?, ?, ?) RETURNING seq",
  );
  const del = db.prepare("DELETE FROM q WHERE seq = ?");
  const enqueue = db.transaction((payloads: Uint8Array[]) => {
    const now = Date.now();
    return payloads.map((p) => ins.get(uuidv7(), p, now)!.seq);
  });
  const ack = db.transaction((seqs: number[]) => {
    for (const s of seqs) del.run(s);
  });
  return {
    /** Queues, stores in GLM's tables and acknowledges `rows` (with their encoded records) in batches. */
    run(rows: Item[], payloads: Uint8Array[], batchSize: number) {
      for (let i = 0; i < rows.length; i += batchSize) {
        const seqs = enqueue(payloads.slice(i, i + batchSize));
        glm.insert(rows.slice(i, i + batchSize));
        ack(seqs);
      }
    },
    close: () => db.close(),
  };
}

/** The record SWM queues for an item (as cached: SWM's timestamps). */
export function recordOf(it: Item): KemRecord {
  const now = nowMicros();
  return {
    id: it.id,
    contentType: "text/plain",
    content: CONTENT,
    metadata: it.metadata,
    embedding: it.embedding,
    createdAtUs: now,
    updatedAtUs: now,
  };
}

/**
 * Composite raw baseline of the Redis case: the bytes the Redis queue holds for each KEM (encoded
 * before the clock starts) through the queue's raw commands — XADD with 64 in flight (node-redis
 * pipelines them), XREADGROUP of a batch, XACK + XDEL pipelined — with each batch inserted by raw
 * `bun:sqlite` in between (`sqlite`: the plain insert, or {@link rawGlmWrites} for the Redis
 * case's floor). No validation, no working set.
 */
export async function compositeRun(
  redis: RedisConnection,
  sqlite: { insert(rows: Item[]): void },
  batchSize: number,
  beforeClock: () => Promise<unknown>,
): Promise<Sample> {
  const rows = items();
  const payloads = rows.map((it) => Buffer.from(encodeRecord(recordOf(it))));
  const keys = rows.map(() => newKemId());
  const key = `bench-raw-queue:${seed}`;
  await redis.cmd(["XGROUP", "CREATE", key, "g", "0", "MKSTREAM"]);
  await beforeClock();
  const t0 = performance.now();
  await pool(N, IN_FLIGHT, (i) => redis.cmd(["XADD", key, "*", "key", keys[i]!, "kem", payloads[i]!]));
  for (let done = 0; done < N; ) {
    const reply = await redis.bin<[Buffer, [Buffer, Buffer[]][]][]>([
      "XREADGROUP",
      "GROUP",
      "g",
      "c",
      "COUNT",
      String(batchSize),
      "STREAMS",
      key,
      ">",
    ]);
    const entries =
      (Array.isArray(reply) ? reply[0]![1] : Object.values(reply as Record<string, [Buffer, Buffer[]][]>)[0]!) ?? [];
    sqlite.insert(rows.slice(done, done + entries.length));
    const ids = entries.map(([id]) => id.toString());
    await Promise.all([redis.cmd(["XACK", key, "g", ...ids]), redis.cmd(["XDEL", key, ...ids])]);
    done += entries.length;
  }
  const wallMs = performance.now() - t0;
  await redis.cmd(["DEL", key]);
  return { n: N, wallMs };
}
