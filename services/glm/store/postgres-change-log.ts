/**
 * The change log of the PostgreSQL KEM store (`kem_changes`, docs/postgres.md), through which
 * other nodes' vector indexes follow GLM's writes:
 *
 * - entries are appended under one advisory lock taken just before commit, so sequence numbers
 *   become visible in increasing order (a reader never skips an entry that commits later with a
 *   smaller number), and every write transaction sends `NOTIFY` on {@link CHANGE_CHANNEL};
 * - `dataVersion()` changes exactly when another store instance (another node, or another
 *   connection pool of this process) appended to the change log, like SQLite's
 *   `PRAGMA data_version`: this instance remembers the ranges it appended itself;
 * - `onChange` wakes a node on any node's writes (delivery is best effort; correctness never
 *   depends on it).
 * @module
 */
import type postgres from "postgres";
import type { KemStore } from "../ports.ts";
import { Params } from "./postgres-filter-plan.ts";
import type { SeqRange, Tx } from "./postgres-transaction.ts";

/** The notification channel of change-log appends. */
export const CHANGE_CHANNEL = "dcsm_glm_changes";

/** Advisory lock (two int4) serializing change-log appends: "DCSM", 2. */
const CHANGE_LOCK = "1145258829, 2";

/** Own appends remembered at most; when exceeded, the oldest are forgotten down to half of it. */
const MAX_OWN_RANGES = 4096;

/** The change log of one store instance. */
export interface PostgresChangeLog
  extends Pick<KemStore, "changesSince" | "latestChangeSeq" | "oldestChangeSeq" | "pruneChanges" | "dataVersion"> {
  /**
   * Appends entries for `ids` and notifies listeners; the last statement of a write transaction
   * (the lock it takes is held until commit). Nothing happens for no ids.
   */
  append(t: Tx, ids: string[]): Promise<void>;
  /** Remembers ranges this instance committed (from the transaction runner), for `dataVersion()`. */
  noteOwn(ranges: SeqRange[]): void;
  /**
   * Calls `fn` whenever any node (this one included) commits a write, and after every
   * (re)connection of the listening connection (notifications sent while it was down are lost,
   * so callers catch up then).
   * @returns a function that stops listening.
   */
  onChange(fn: () => void): Promise<() => Promise<void>>;
}

/**
 * The change log on `sql`; reads the current end of the log, so that `dataVersion()` counts only
 * what is appended from now on.
 * @throws driver errors of that first read.
 */
export async function createPostgresChangeLog(sql: postgres.Sql): Promise<PostgresChangeLog> {
  // Change-log positions this instance appended (committed), as [lo, hi] ranges, for dataVersion().
  const own: SeqRange[] = [];
  let scannedTo = Number((await sql<{ s: string }[]>`SELECT coalesce(max(seq), 0)::int8 AS s FROM kem_changes`)[0]!.s);
  let version = 0;
  let versionCheck: Promise<number> | null = null;

  /**
   * Remembers committed own change-log ranges, merging contiguous ones. Bounded: when nobody calls
   * dataVersion() (an external vector index), the oldest are forgotten, which can only make a
   * later check report a change that was ours (a needless catch-up), never hide another's.
   */
  function noteOwn(ranges: SeqRange[]): void {
    for (const [lo, hi] of ranges) {
      const last = own[own.length - 1];
      if (last && last[1] + 1 === lo) last[1] = hi;
      else own.push([lo, hi]);
    }
    if (own.length > MAX_OWN_RANGES) own.splice(0, own.length - MAX_OWN_RANGES / 2);
  }

  async function append(t: Tx, ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    await t.unsafe(`SELECT pg_advisory_xact_lock(${CHANGE_LOCK})`);
    const p = new Params();
    const [r] = await t.unsafe<{ lo: string; hi: string }[]>(
      `WITH ins AS (INSERT INTO kem_changes (kem_id) SELECT jsonb_array_elements_text(${p.add(JSON.stringify(ids), "text")}::jsonb) RETURNING seq)
       SELECT min(seq)::int8 AS lo, max(seq)::int8 AS hi FROM ins`,
      p.values,
      { prepare: true },
    );
    await t.unsafe(`SELECT pg_notify('${CHANGE_CHANNEL}', $1::text)`, [r!.hi], { prepare: true });
    t.appended.push([Number(r!.lo), Number(r!.hi)]);
  }

  /** Scans the entries appended since the last scan; the version moves if any was not ours. */
  async function checkVersion(): Promise<number> {
    const [r] = await sql<
      { n: string; hi: string }[]
    >`SELECT count(*)::int8 AS n, coalesce(max(seq), 0)::int8 AS hi FROM kem_changes WHERE seq > ${scannedTo}::int8`;
    const n = Number(r!.n);
    const hi = Number(r!.hi);
    if (n > 0) {
      let mine = 0;
      for (const [lo, up] of own) mine += Math.max(0, Math.min(up, hi) - Math.max(lo, scannedTo + 1) + 1);
      if (n > mine) version++;
      scannedTo = hi;
      for (let i = own.length - 1; i >= 0; i--) if (own[i]![1] <= hi) own.splice(i, 1);
    }
    return version;
  }

  return {
    append,
    noteOwn,
    async changesSince(seq, limit) {
      const rows = await sql<
        { seq: string; kem_id: string }[]
      >`SELECT seq, kem_id FROM kem_changes WHERE seq > ${seq}::int8 ORDER BY seq LIMIT ${limit}::int8`;
      return rows.map((r) => ({ seq: Number(r.seq), id: r.kem_id }));
    },
    latestChangeSeq: async () =>
      Number((await sql<{ s: string }[]>`SELECT coalesce(max(seq), 0)::int8 AS s FROM kem_changes`)[0]!.s),
    oldestChangeSeq: async () =>
      Number((await sql<{ s: string }[]>`SELECT coalesce(min(seq), 0)::int8 AS s FROM kem_changes`)[0]!.s),
    async pruneChanges(keep) {
      await sql`DELETE FROM kem_changes WHERE seq <= (SELECT max(seq) FROM kem_changes) - ${keep}::int8`;
    },
    async dataVersion() {
      // Serialized: one scan of new change-log entries at a time.
      const run = (versionCheck ?? Promise.resolve(0)).then(checkVersion, checkVersion);
      versionCheck = run;
      return run;
    },
    async onChange(fn) {
      const sub = await sql.listen(
        CHANGE_CHANNEL,
        () => fn(),
        () => fn(),
      );
      return () => sub.unlisten();
    },
  };
}
