/**
 * Durable write-behind queue for the embedded SWM: a `bun:sqlite` file in the data folder (WAL,
 * `synchronous=NORMAL`: a committed enqueue survives a crash or kill -9 of the process; use the
 * Redis queue with AOF for power-loss durability). One process owns the file, so claiming is just
 * reading the oldest rows; rows are deleted on ack.
 * @module
 */
import { Database } from "bun:sqlite";
import { v7 as uuidv7 } from "uuid";
import type { KemRecord, PersistQueue, QueuedKem } from "../ports.ts";
import { decodeRecord, encodeRecord } from "./codec.ts";

/** Options of {@link createSqlitePersistQueue}. */
export interface SqlitePersistQueueOptions {
  /** Path of the queue's SQLite file (created when missing). */
  path: string;
}

/**
 * Opens (or creates) the queue file.
 * @param options - file path.
 */
export function createSqlitePersistQueue(options: SqlitePersistQueueOptions): PersistQueue {
  const db = new Database(options.path, { create: true, strict: true });
  db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;");
  db.exec(`CREATE TABLE IF NOT EXISTS swm_persist_queue (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    idempotency_key TEXT NOT NULL,
    kem BLOB NOT NULL,
    enqueued_at_ms INTEGER NOT NULL
  )`);
  const insert = db.query<unknown, [string, Uint8Array, number]>("INSERT INTO swm_persist_queue (idempotency_key, kem, enqueued_at_ms) VALUES (?, ?, ?)");
  const oldest = db.query<{ seq: number; idempotency_key: string; kem: Uint8Array; enqueued_at_ms: number }, [number]>(
    "SELECT seq, idempotency_key, kem, enqueued_at_ms FROM swm_persist_queue ORDER BY seq LIMIT ?",
  );
  const del = db.query<unknown, [number]>("DELETE FROM swm_persist_queue WHERE seq = ?");
  const stat = db.query<{ n: number; t: number | null }, []>("SELECT COUNT(*) AS n, MIN(enqueued_at_ms) AS t FROM swm_persist_queue");
  const enqueueTx = db.transaction((records: KemRecord[]) => {
    const now = Date.now();
    for (const r of records) insert.run(uuidv7(), encodeRecord(r), now);
  });
  const ackTx = db.transaction((handles: string[]) => {
    for (const h of handles) del.run(Number(h));
  });
  return {
    async enqueue(records) {
      if (records.length > 0) enqueueTx(records);
    },
    async claim(max): Promise<QueuedKem[]> {
      return oldest.all(max).map((r) => ({
        handle: String(r.seq),
        idempotencyKey: r.idempotency_key,
        record: decodeRecord(r.kem),
        enqueuedAtMs: r.enqueued_at_ms,
      }));
    },
    async ack(handles) {
      if (handles.length > 0) ackTx(handles);
    },
    async stats() {
      const s = stat.get()!;
      return { depth: s.n, oldestAgeMs: s.t === null ? 0 : Math.max(0, Date.now() - s.t) };
    },
    async close() {
      db.close();
    },
  };
}
