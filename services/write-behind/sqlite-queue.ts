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
 *
 * Records this process enqueued are also kept in memory (up to {@link LOCAL_RECORDS_MAX}) until
 * acknowledged, so its own claims lease and answer them without reading and decoding the stored
 * bytes; the bytes are read only for rows another process (or an earlier run) enqueued.
 * @module
 */
import { v7 as uuidv7 } from "uuid";
import { SWM_DEFAULTS } from "../common/defaults.ts";
import type { KemRecord } from "../common/kem-record.ts";
import { openWalDatabase } from "../common/sqlite-open.ts";
import { decodeRecord, encodeRecord, RecordFormatError } from "./codec.ts";
import type { PersistQueue, QueuedKem } from "./ports.ts";

/** A queue row as a claim reads it (the record's bytes are read separately, when needed). */
interface ClaimedRow {
  seq: number;
  idempotency_key: string;
  enqueued_at_ms: number;
}

/** Most records kept in memory for this process's claims; beyond it claims decode the stored bytes. */
export const LOCAL_RECORDS_MAX = 10_000;

/** Records of one `enqueue` call waiting for the group's commit. */
interface Pending {
  /** The records, encoded by the caller (an encoding error fails that call only). */
  encoded: Uint8Array[];
  /** The records as given, same order. */
  records: KemRecord[];
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
  db.exec(
    "CREATE TABLE IF NOT EXISTS swm_persist_leases (seq INTEGER PRIMARY KEY, claimed_by TEXT NOT NULL, claimed_until_ms INTEGER NOT NULL)",
  );
  db.exec(`CREATE TABLE IF NOT EXISTS swm_persist_dead (
    seq INTEGER PRIMARY KEY, idempotency_key TEXT NOT NULL, kem BLOB NOT NULL, enqueued_at_ms INTEGER NOT NULL, error TEXT NOT NULL, failed_at_ms INTEGER NOT NULL
  )`);
  db.exec("CREATE INDEX IF NOT EXISTS swm_persist_queue_enqueued ON swm_persist_queue (enqueued_at_ms)"); // depth and age without a table scan
  const me = uuidv7();
  const lease = options.claimIdleMs ?? SWM_DEFAULTS.claimIdleMs;
  const insert = db.query<unknown, [string, Uint8Array, number]>(
    "INSERT INTO swm_persist_queue (idempotency_key, kem, enqueued_at_ms) VALUES (?, ?, ?)",
  );
  // Leases live in their own small table: setting them on the queue rows rewrote each 2 KB row
  // (its page) into the WAL on every claim, 2-3x the cost of the claim itself. The queue's own
  // claim columns are still honoured, for rows leased by an earlier version sharing the file.
  const selectClaimable = db.query<ClaimedRow, [string, number, string, number, number]>(
    `SELECT q.seq, q.idempotency_key, q.enqueued_at_ms FROM swm_persist_queue q LEFT JOIN swm_persist_leases l ON l.seq = q.seq
     WHERE (l.seq IS NULL OR l.claimed_by = ? OR l.claimed_until_ms < ?)
       AND (q.claimed_by IS NULL OR q.claimed_by = ? OR q.claimed_until_ms < ?)
     ORDER BY q.seq LIMIT ?`,
  );
  const bytesOf = db.query<{ kem: Uint8Array }, [number]>("SELECT kem FROM swm_persist_queue WHERE seq = ?");
  /**
   * Records enqueued by this process and not yet acknowledged, by row: the very objects given to
   * `enqueue` (callers hand over records they no longer change). Cleared when the queue is empty,
   * so rows another process acknowledged do not stay here.
   */
  const local = new Map<number, KemRecord>();
  const setLease = db.query<unknown, [number, string, number]>(
    "INSERT OR REPLACE INTO swm_persist_leases (seq, claimed_by, claimed_until_ms) VALUES (?, ?, ?)",
  );
  /** Leases up to `max` rows; a row not held in memory comes with its stored bytes. */
  const claimTx = db.transaction((now: number, max: number) => {
    const rows = selectClaimable.all(me, now, me, now, max);
    const out: { row: ClaimedRow; record?: KemRecord; kem?: Uint8Array }[] = [];
    for (const r of rows) {
      setLease.run(r.seq, me, now + lease);
      const record = local.get(r.seq);
      out.push(record ? { row: r, record } : { row: r, kem: bytesOf.get(r.seq)?.kem });
    }
    return out;
  });
  const delLease = db.query<unknown, [number]>("DELETE FROM swm_persist_leases WHERE seq = ?");
  const bury = db.query<unknown, [number, string, Uint8Array, number, string, number]>(
    "INSERT OR REPLACE INTO swm_persist_dead (seq, idempotency_key, kem, enqueued_at_ms, error, failed_at_ms) VALUES (?, ?, ?, ?, ?, ?)",
  );
  /** Moves unreadable rows to `swm_persist_dead`; releases the leases of rows a newer build wrote. */
  const setAsideTx = db.transaction((dead: { row: ClaimedRow; kem: Uint8Array; error: string }[], newer: number[]) => {
    const now = Date.now();
    for (const { row, kem, error } of dead) {
      bury.run(row.seq, row.idempotency_key, kem, row.enqueued_at_ms, error, now);
      del.run(row.seq);
      delLease.run(row.seq);
    }
    for (const seq of newer) delLease.run(seq);
  });
  const del = db.query<unknown, [number]>("DELETE FROM swm_persist_queue WHERE seq = ?");
  // Two statements: a lone COUNT(*) takes SQLite's count fast path and MIN() seeks the index,
  // where the combined query scanned the index (127 µs against 1 µs at a depth of 2000; stats are
  // polled by the worker, /metrics and benches). Read in one transaction they cost 43 µs: depth
  // and age may come from two moments a concurrent write apart, which only informs.
  const countRows = db.query<{ n: number }, []>("SELECT COUNT(*) AS n FROM swm_persist_queue");
  const oldest = db.query<{ t: number | null }, []>("SELECT MIN(enqueued_at_ms) AS t FROM swm_persist_queue");
  const stat = { get: () => ({ n: countRows.get()!.n, t: oldest.get()!.t }) };
  const enqueueTx = db.transaction((group: Pending[]) => {
    const now = Date.now();
    for (const p of group) {
      for (let i = 0; i < p.encoded.length; i++) {
        const seq = Number(insert.run(uuidv7(), p.encoded[i]!, now).lastInsertRowid);
        if (local.size < LOCAL_RECORDS_MAX) local.set(seq, p.records[i]!);
      }
    }
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
      local.clear(); // the transaction rolled back: seqs kept from it name no rows (or others' rows later)
      for (const p of g) p.reject(err);
      return;
    }
    for (const p of g) p.resolve();
  };
  const ackTx = db.transaction((handles: string[]) => {
    for (const h of handles) {
      const seq = Number(h);
      del.run(seq);
      delLease.run(seq);
      local.delete(seq);
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
        group.push({ encoded, records, resolve, reject });
      });
    },
    async claim(max): Promise<QueuedKem[]> {
      const now = Date.now();
      const claimed = claimTx.immediate(now, max);
      const out: QueuedKem[] = [];
      const dead: { row: ClaimedRow; kem: Uint8Array; error: string }[] = [];
      const newer: number[] = [];
      for (const { row: r, record, kem } of claimed) {
        if (record) {
          out.push({
            handle: String(r.seq),
            idempotencyKey: r.idempotency_key,
            record,
            enqueuedAtMs: r.enqueued_at_ms,
          });
          continue;
        }
        if (!kem) continue; // acknowledged by another process between the select and the read (same transaction: not expected)
        try {
          out.push({
            handle: String(r.seq),
            idempotencyKey: r.idempotency_key,
            record: decodeRecord(kem),
            enqueuedAtMs: r.enqueued_at_ms,
          });
        } catch (err) {
          if (!(err instanceof RecordFormatError)) throw err;
          if (err.newerVersion) newer.push(r.seq);
          else dead.push({ row: r, kem, error: err.message });
        }
      }
      if (dead.length > 0 || newer.length > 0) {
        setAsideTx.immediate(dead, newer);
        for (const d of dead)
          options.log?.warn(
            { seq: d.row.seq, error: d.error },
            "unreadable write-behind record moved to swm_persist_dead",
          );
        if (newer.length > 0)
          options.log?.warn(
            { rows: newer.length },
            "write-behind records of a newer format left for a newer DCSM process",
          );
      }
      return out;
    },
    async ack(handles) {
      if (handles.length > 0) ackTx(handles);
    },
    async stats() {
      const s = stat.get()!;
      if (s.n === 0) local.clear();
      return { depth: s.n, oldestAgeMs: s.t === null ? 0 : Math.max(0, Date.now() - s.t) };
    },
    async close() {
      commitGroup(); // enqueues already accepted are committed, not dropped
      local.clear();
      db.close();
    },
  };
}
