/**
 * Durable write-behind queue for the embedded SWM: a `bun:sqlite` file in the data folder (WAL,
 * `synchronous=NORMAL`: a committed enqueue survives a crash or kill -9 of the process; use the
 * Redis queue with AOF for power-loss durability). Several processes may share the data folder:
 * a claim leases the oldest unclaimed rows to this process for `claimIdleMs` (one IMMEDIATE
 * transaction; leases in the table `swm_persist_leases`), so workers do not send the same rows; rows of a dead process come back when their
 * lease ends. Rows are deleted on ack. Concurrent enqueues share one transaction (group commit);
 * records are stored in the format of `codec.ts`; an index on the enqueue time answers depth and
 * age without a table scan. A row that cannot be read is moved to `swm_persist_dead` (bytes, error,
 * time) instead of blocking the queue; rows of a newer format are left for a newer process.
 * @module
 */
import { v7 as uuidv7 } from "uuid";
import { openWalDatabase } from "../../shared/sqlite-open.ts";
import type { PersistQueue, QueuedKem } from "../ports.ts";
import { decodeRecord, encodeRecord, RecordFormatError } from "./codec.ts";
import { SWM_DEFAULTS } from "../../shared/defaults.ts";

/** A queue row as a claim reads it. */
interface ClaimedRow {
  seq: number;
  idempotency_key: string;
  kem: Uint8Array;
  enqueued_at_ms: number;
}

/** Records of one `enqueue` call waiting for the group's commit. */
interface Pending {
  /** The records, encoded by the caller (an encoding error fails that call only). */
  encoded: Uint8Array[];
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** Options of {@link createSqlitePersistQueue}. */
export interface SqlitePersistQueueOptions {
  /** Path of the queue's SQLite file (created when missing). */
  path: string;
  /** How long a claim is reserved for this process, ms (then other processes may take it). @default 30000 */
  claimIdleMs?: number;
  /** Logger for records that cannot be read. */
  log?: { warn(obj: object, msg: string): void };
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
  db.exec("CREATE TABLE IF NOT EXISTS swm_persist_leases (seq INTEGER PRIMARY KEY, claimed_by TEXT NOT NULL, claimed_until_ms INTEGER NOT NULL)");
  db.exec(`CREATE TABLE IF NOT EXISTS swm_persist_dead (
    seq INTEGER PRIMARY KEY, idempotency_key TEXT NOT NULL, kem BLOB NOT NULL, enqueued_at_ms INTEGER NOT NULL, error TEXT NOT NULL, failed_at_ms INTEGER NOT NULL
  )`);
  db.exec("CREATE INDEX IF NOT EXISTS swm_persist_queue_enqueued ON swm_persist_queue (enqueued_at_ms)"); // depth and age without a table scan
  const me = uuidv7();
  const lease = options.claimIdleMs ?? SWM_DEFAULTS.claimIdleMs;
  const insert = db.query<unknown, [string, Uint8Array, number]>("INSERT INTO swm_persist_queue (idempotency_key, kem, enqueued_at_ms) VALUES (?, ?, ?)");
  // Leases live in their own small table: setting them on the queue rows rewrote each 2 KB row
  // (its page) into the WAL on every claim, 2-3x the cost of the claim itself. The queue's own
  // claim columns are still honoured, for rows leased by an earlier version sharing the file.
  const selectClaimable = db.query<ClaimedRow, [string, number, string, number, number]>(
    `SELECT q.seq, q.idempotency_key, q.kem, q.enqueued_at_ms FROM swm_persist_queue q LEFT JOIN swm_persist_leases l ON l.seq = q.seq
     WHERE (l.seq IS NULL OR l.claimed_by = ? OR l.claimed_until_ms < ?)
       AND (q.claimed_by IS NULL OR q.claimed_by = ? OR q.claimed_until_ms < ?)
     ORDER BY q.seq LIMIT ?`,
  );
  const setLease = db.query<unknown, [number, string, number]>("INSERT OR REPLACE INTO swm_persist_leases (seq, claimed_by, claimed_until_ms) VALUES (?, ?, ?)");
  const claimTx = db.transaction((now: number, max: number) => {
    const rows = selectClaimable.all(me, now, me, now, max);
    for (const r of rows) setLease.run(r.seq, me, now + lease);
    return rows;
  });
  const delLease = db.query<unknown, [number]>("DELETE FROM swm_persist_leases WHERE seq = ?");
  const bury = db.query<unknown, [number, string, Uint8Array, number, string, number]>(
    "INSERT OR REPLACE INTO swm_persist_dead (seq, idempotency_key, kem, enqueued_at_ms, error, failed_at_ms) VALUES (?, ?, ?, ?, ?, ?)",
  );
  /** Moves unreadable rows to `swm_persist_dead`; releases the leases of rows a newer build wrote. */
  const setAsideTx = db.transaction((dead: { row: ClaimedRow; error: string }[], newer: number[]) => {
    const now = Date.now();
    for (const { row, error } of dead) {
      bury.run(row.seq, row.idempotency_key, row.kem, row.enqueued_at_ms, error, now);
      del.run(row.seq);
      delLease.run(row.seq);
    }
    for (const seq of newer) delLease.run(seq);
  });
  const del = db.query<unknown, [number]>("DELETE FROM swm_persist_queue WHERE seq = ?");
  const stat = db.query<{ n: number; t: number | null }, []>("SELECT COUNT(*) AS n, MIN(enqueued_at_ms) AS t FROM swm_persist_queue");
  const enqueueTx = db.transaction((group: Pending[]) => {
    const now = Date.now();
    for (const p of group) for (const bytes of p.encoded) insert.run(uuidv7(), bytes, now);
  });
  // Group commit: enqueues issued while the current microtasks run (concurrent publishes) share
  // one transaction, committed before the event loop moves on; each caller's promise settles when
  // it has committed (or failed: then nothing of the group was queued). One commit per publish
  // cost 35 µs of CPU per KEM, a shared one 10 µs (queue with 384-d records, 64 in flight).
  let group: Pending[] | null = null;
  const commitGroup = () => {
    const g = group;
    group = null;
    if (!g) return;
    try {
      enqueueTx(g);
    } catch (err) {
      for (const p of g) p.reject(err);
      return;
    }
    for (const p of g) p.resolve();
  };
  const ackTx = db.transaction((handles: string[]) => {
    for (const h of handles) {
      del.run(Number(h));
      delLease.run(Number(h));
    }
  });
  return {
    enqueue(records) {
      if (records.length === 0) return Promise.resolve();
      let encoded: Uint8Array[];
      try {
        encoded = records.map(encodeRecord);
      } catch (err) {
        return Promise.reject(err);
      }
      return new Promise<void>((resolve, reject) => {
        if (!group) {
          group = [];
          queueMicrotask(commitGroup);
        }
        group.push({ encoded, resolve, reject });
      });
    },
    async claim(max): Promise<QueuedKem[]> {
      const now = Date.now();
      const rows = claimTx.immediate(now, max);
      const out: QueuedKem[] = [];
      const dead: { row: ClaimedRow; error: string }[] = [];
      const newer: number[] = [];
      for (const r of rows) {
        try {
          out.push({ handle: String(r.seq), idempotencyKey: r.idempotency_key, record: decodeRecord(r.kem), enqueuedAtMs: r.enqueued_at_ms });
        } catch (err) {
          if (!(err instanceof RecordFormatError)) throw err;
          if (err.newerVersion) newer.push(r.seq);
          else dead.push({ row: r, error: err.message });
        }
      }
      if (dead.length > 0 || newer.length > 0) {
        setAsideTx.immediate(dead, newer);
        for (const d of dead) options.log?.warn({ seq: d.row.seq, error: d.error }, "unreadable write-behind record moved to swm_persist_dead");
        if (newer.length > 0) options.log?.warn({ rows: newer.length }, "write-behind records of a newer format left for a newer DCSM process");
      }
      return out;
    },
    async ack(handles) {
      if (handles.length > 0) ackTx(handles);
    },
    async stats() {
      const s = stat.get()!;
      return { depth: s.n, oldestAgeMs: s.t === null ? 0 : Math.max(0, Date.now() - s.t) };
    },
    async close() {
      commitGroup(); // enqueues already accepted are committed, not dropped
      db.close();
    },
  };
}
