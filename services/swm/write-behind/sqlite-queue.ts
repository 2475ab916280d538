/**
 * Durable write-behind queue for the embedded SWM: a `bun:sqlite` file in the data folder (WAL,
 * `synchronous=NORMAL`: a committed enqueue survives a crash or kill -9 of the process; use the
 * Redis queue with AOF for power-loss durability). Several processes may share the data folder:
 * a claim leases the oldest unclaimed rows to this process for `claimIdleMs` (one IMMEDIATE
 * transaction), so workers do not send the same rows; rows of a dead process come back when their
 * lease ends. Rows are deleted on ack.
 * @module
 */
import { v7 as uuidv7 } from "uuid";
import { openWalDatabase } from "../../shared/sqlite-open.ts";
import type { KemRecord, PersistQueue, QueuedKem } from "../ports.ts";
import { decodeRecord, encodeRecord } from "./codec.ts";

/** Options of {@link createSqlitePersistQueue}. */
export interface SqlitePersistQueueOptions {
  /** Path of the queue's SQLite file (created when missing). */
  path: string;
  /** How long a claim is reserved for this process, ms (then other processes may take it). @default 30000 */
  claimIdleMs?: number;
}

/**
 * Opens (or creates) the queue file.
 * @param options - file path.
 */
export function createSqlitePersistQueue(options: SqlitePersistQueueOptions): PersistQueue {
  // A second server on the same data folder may open this file at the same moment (see sqlite-open.ts).
  const db = openWalDatabase(options.path, { busyTimeoutMs: 5000 });
  db.exec("PRAGMA synchronous = NORMAL;");
  db.exec(`CREATE TABLE IF NOT EXISTS swm_persist_queue (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    idempotency_key TEXT NOT NULL,
    kem BLOB NOT NULL,
    enqueued_at_ms INTEGER NOT NULL,
    claimed_by TEXT,
    claimed_until_ms INTEGER
  )`);
  const me = uuidv7();
  const lease = options.claimIdleMs ?? 30_000;
  const insert = db.query<unknown, [string, Uint8Array, number]>("INSERT INTO swm_persist_queue (idempotency_key, kem, enqueued_at_ms) VALUES (?, ?, ?)");
  const claimRows = db.query<{ seq: number; idempotency_key: string; kem: Uint8Array; enqueued_at_ms: number }, [string, number, string, number, number]>(
    `UPDATE swm_persist_queue SET claimed_by = ?, claimed_until_ms = ?
     WHERE seq IN (SELECT seq FROM swm_persist_queue WHERE claimed_by IS NULL OR claimed_by = ? OR claimed_until_ms < ? ORDER BY seq LIMIT ?)
     RETURNING seq, idempotency_key, kem, enqueued_at_ms`,
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
      const now = Date.now();
      const rows = db.transaction(() => claimRows.all(me, now + lease, me, now, max)).immediate();
      rows.sort((a, b) => a.seq - b.seq);
      return rows.map((r) => ({
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
