/**
 * The SQLite query planner for {@link KemFilter}s (docs/search.md "Indexed filters"). Every filter
 * is answered from an index; none scans `kems`:
 *
 * - a **driver** produces candidates in index order: the id list (`UNIQUE(id)`), one metadata
 *   equality (`kem_meta` primary key `(key, value, updated_at, id)`, already in result order), the
 *   `updated_at` range (`idx_kems_updated_at`, in result order) or the `created_at` range
 *   (`idx_kems_created_at`, sorted afterwards);
 * - every other criterion is a **residual** checked per candidate by an index probe (metadata: the
 *   `kem_meta` primary key, fully bound) or a column comparison on the candidate row.
 *
 * The driver is the criterion with the fewest matches, estimated by counting index entries up to
 * {@link ESTIMATE_CAP}. A `created_at` range matching more than that walks `updated_at` order
 * instead of sorting a large set (the residual then passes often, so the walk stops early).
 * @module
 */
import type { Database, SQLQueryBindings } from "bun:sqlite";
import type { KemFilter, UpdatedCursor } from "../../common/kem-record.ts";
import { microsToIso } from "../../common/time.ts";
import { indexedValueOf } from "./metadata-index.ts";

/** Index entries counted at most when estimating a criterion's matches. */
export const ESTIMATE_CAP = 20_000;

/** A criterion that can drive a filtered query. */
export type Driver =
  | { kind: "ids" }
  | { kind: "meta"; key: string }
  | { kind: "updated" }
  | { kind: "created" }
  | { kind: "ordered" };

/** SQL text and parameters of a query fragment. */
export interface SqlPart {
  sql: string;
  params: SQLQueryBindings[];
}

/** The estimation queries, prepared once per database. */
export interface Estimator {
  /** Matches of one criterion, counted up to `cap` (the cap when there are more). */
  count(filter: KemFilter, driver: Driver, cap: number): number;
}

/** Creates the estimator of a database (statements are cached). */
export function createEstimator(db: Database): Estimator {
  const metaCount = db.query<{ n: number }, [string, SQLQueryBindings, number]>(
    "SELECT COUNT(*) AS n FROM (SELECT 1 FROM kem_meta WHERE key = ? AND value = ? LIMIT ?)",
  );
  const updatedCount = db.query<{ n: number }, [string, string, number]>(
    "SELECT COUNT(*) AS n FROM (SELECT 1 FROM kems INDEXED BY idx_kems_updated_at WHERE updated_at >= ? AND updated_at <= ? LIMIT ?)",
  );
  const createdCount = db.query<{ n: number }, [string, string, number]>(
    "SELECT COUNT(*) AS n FROM (SELECT 1 FROM kems INDEXED BY idx_kems_created_at WHERE created_at >= ? AND created_at <= ? LIMIT ?)",
  );
  return {
    count(filter, driver, cap) {
      switch (driver.kind) {
        case "ids":
          return Math.min(filter.ids!.length, cap);
        case "meta":
          return metaCount.get(driver.key, indexedValueOf(filter.metadata![driver.key]!), cap)!.n;
        case "updated":
          return updatedCount.get(...rangeOf(filter.updatedFromUs, filter.updatedToUs), cap)!.n;
        case "created":
          return createdCount.get(...rangeOf(filter.createdFromUs, filter.createdToUs), cap)!.n;
        case "ordered":
          return cap;
      }
    },
  };
}

const MIN_ISO = "0000";
const MAX_ISO = "9999";

function rangeOf(from: number | undefined, to: number | undefined): [string, string] {
  return [from === undefined ? MIN_ISO : microsToIso(from), to === undefined ? MAX_ISO : microsToIso(to)];
}

/** The criteria of `filter` that could drive a query. */
export function driversOf(filter: KemFilter): Driver[] {
  const out: Driver[] = [];
  if (filter.ids && filter.ids.length > 0) out.push({ kind: "ids" });
  for (const key of Object.keys(filter.metadata ?? {})) out.push({ kind: "meta", key });
  if (filter.updatedFromUs !== undefined || filter.updatedToUs !== undefined) out.push({ kind: "updated" });
  if (filter.createdFromUs !== undefined || filter.createdToUs !== undefined) out.push({ kind: "created" });
  return out;
}

/** True when `filter` restricts anything. */
export function isFiltered(filter: KemFilter): boolean {
  return driversOf(filter).length > 0;
}

/**
 * Picks the driver of `filter`: the criterion with the fewest matching KEMs. An unfiltered query,
 * or one driven by a wide `created_at` range, walks the `updated_at` order itself.
 * @param filter - the filter.
 * @param estimator - the database's estimator.
 * @param wantEstimate - also count the driver's matches when it is the only criterion (callers
 *   that choose between index-first and vector-first search need the figure; `find` does not).
 * @returns the driver and its estimated matches (at most {@link ESTIMATE_CAP}; the cap when not counted).
 */
export function chooseDriver(
  filter: KemFilter,
  estimator: Estimator,
  wantEstimate = false,
): { driver: Driver; estimate: number } {
  const drivers = driversOf(filter);
  if (drivers.length === 0) return { driver: { kind: "ordered" }, estimate: ESTIMATE_CAP };
  if (drivers.length === 1 && drivers[0]!.kind !== "created" && !wantEstimate)
    return { driver: drivers[0]!, estimate: ESTIMATE_CAP };
  let best = drivers[0]!;
  let bestCount = estimator.count(filter, best, ESTIMATE_CAP);
  for (let i = 1; i < drivers.length && bestCount > 0; i++) {
    // Counting stops at the best count so far: a criterion is only of interest if it yields fewer.
    const n = estimator.count(filter, drivers[i]!, bestCount);
    if (n < bestCount) {
      best = drivers[i]!;
      bestCount = n;
    }
  }
  if (best.kind === "created" && bestCount >= ESTIMATE_CAP) return { driver: { kind: "ordered" }, estimate: bestCount };
  return { driver: best, estimate: bestCount };
}

/** Where a candidate's id and times are read: the `kems` row `k`, or a `kem_meta` entry `m` (no created_at). */
export interface RowColumns {
  id: string;
  updatedAt: string;
  createdAt?: string;
}

const KEMS_ROW: RowColumns = { id: "k.id", updatedAt: "k.updated_at", createdAt: "k.created_at" };
const META_ROW: RowColumns = { id: "m.id", updatedAt: "m.updated_at" };

/**
 * Conditions on the candidate row (`k` by default) for every criterion except the driver's.
 * @param filter - the whole filter.
 * @param driver - the criterion already guaranteed by the candidate source.
 */
export function residualOf(filter: KemFilter, driver: Driver, row: RowColumns = KEMS_ROW): SqlPart {
  const parts: string[] = [];
  const params: SQLQueryBindings[] = [];
  if (driver.kind !== "ids" && filter.ids && filter.ids.length > 0) {
    parts.push(`${row.id} IN (SELECT value FROM json_each(?))`);
    params.push(JSON.stringify(filter.ids));
  }
  for (const [key, value] of Object.entries(filter.metadata ?? {})) {
    if (driver.kind === "meta" && driver.key === key) continue;
    parts.push(
      `EXISTS (SELECT 1 FROM kem_meta x WHERE x.key = ? AND x.value = ? AND x.updated_at = ${row.updatedAt} AND x.id = ${row.id})`,
    );
    params.push(key, indexedValueOf(value));
  }
  if (driver.kind !== "updated")
    rangeConditions(parts, params, row.updatedAt, filter.updatedFromUs, filter.updatedToUs);
  if (driver.kind !== "created")
    rangeConditions(parts, params, row.createdAt ?? "k.created_at", filter.createdFromUs, filter.createdToUs);
  return { sql: parts.join(" AND "), params };
}

function rangeConditions(parts: string[], params: SQLQueryBindings[], col: string, from?: number, to?: number): void {
  if (from !== undefined) {
    parts.push(`${col} >= ?`);
    params.push(microsToIso(from));
  }
  if (to !== undefined) {
    parts.push(`${col} <= ?`);
    params.push(microsToIso(to));
  }
}

function and(...parts: string[]): string {
  const kept = parts.filter((p) => p !== "");
  return kept.length === 0 ? "" : `WHERE ${kept.join(" AND ")}`;
}

/** Where a driver's candidates come from: tables, the driver's condition, and the result-order columns. */
interface CandidateSource {
  from: string;
  condition: string;
  params: SQLQueryBindings[];
  updatedAt: string;
  id: string;
}

function sourceOf(filter: KemFilter, driver: Driver): CandidateSource {
  const onKems = { updatedAt: "k.updated_at", id: "k.id" };
  switch (driver.kind) {
    case "meta":
      return {
        from: "kem_meta m CROSS JOIN kems k ON k.id = m.id",
        condition: "m.key = ? AND m.value = ?",
        params: [driver.key, indexedValueOf(filter.metadata![driver.key]!)],
        updatedAt: "m.updated_at",
        id: "m.id",
      };
    case "ids":
      return {
        from: "kems k",
        condition: "k.id IN (SELECT value FROM json_each(?))",
        params: [JSON.stringify(filter.ids)],
        ...onKems,
      };
    case "created":
      return {
        from: "kems k INDEXED BY idx_kems_created_at",
        condition: "k.created_at >= ? AND k.created_at <= ?",
        params: rangeOf(filter.createdFromUs, filter.createdToUs),
        ...onKems,
      };
    case "updated":
      return {
        from: "kems k INDEXED BY idx_kems_updated_at",
        condition: "k.updated_at >= ? AND k.updated_at <= ?",
        params: rangeOf(filter.updatedFromUs, filter.updatedToUs),
        ...onKems,
      };
    case "ordered":
      return { from: "kems k INDEXED BY idx_kems_updated_at", condition: "", params: [], ...onKems };
  }
}

/**
 * The page query of `find`: KEM rows (columns `cols` of alias `k`) matching `filter`, ordered by
 * `updated_at DESC, id DESC`, strictly after `after`, at most `limit`.
 */
export function pageQuery(
  cols: string,
  filter: KemFilter,
  driver: Driver,
  after: UpdatedCursor | undefined,
  limit: number,
): SqlPart {
  const src = sourceOf(filter, driver);
  const residual = residualOf(filter, driver);
  const params = [...src.params];
  // A row-value comparison keeps the index walk in order (an OR of two ranges would not).
  const cursor = after ? `(${src.updatedAt}, ${src.id}) < (?, ?)` : "";
  if (after) params.push(microsToIso(after.updatedAtUs), after.id);
  params.push(...residual.params, limit);
  return {
    sql: `SELECT ${cols} FROM ${src.from} ${and(src.condition, cursor, residual.sql)} ORDER BY ${src.updatedAt} DESC, ${src.id} DESC LIMIT ?`,
    params,
  };
}

/**
 * One column (`id`, or `rid`: the row handle) of every KEM matching `filter`, from the driver's
 * index (no order), at most `limit`.
 */
export function idsQuery(filter: KemFilter, driver: Driver, limit: number, column: "id" | "rid" = "id"): SqlPart {
  const src = sourceOf(filter, driver);
  if (driver.kind === "meta" && filter.createdFromUs === undefined && filter.createdToUs === undefined) {
    // Every other criterion can be checked on the kem_meta entry itself: no kems lookups.
    const onEntry = residualOf(filter, driver, META_ROW);
    return {
      sql: `SELECT m.${column} FROM kem_meta m ${and(src.condition, onEntry.sql)} LIMIT ?`,
      params: [...src.params, ...onEntry.params, limit],
    };
  }
  const residual = residualOf(filter, driver);
  return {
    sql: `SELECT k.${column} FROM ${src.from} ${and(src.condition, residual.sql)} LIMIT ?`,
    params: [...src.params, ...residual.params, limit],
  };
}

/**
 * Which of the given rows match `filter`: every criterion as a residual on the row found by its
 * key. The rows are the first parameter, a JSON array of `rid`s or of `id`s. Used to check vector
 * and lexical hits.
 */
export function matchQuery(filter: KemFilter, by: "rid" | "id"): SqlPart {
  const residual = residualOf(filter, { kind: "ordered" });
  return {
    sql: `SELECT k.rid AS rid, k.id AS id FROM kems k ${and(`k.${by} IN (SELECT value FROM json_each(?))`, residual.sql)}`,
    params: residual.params,
  };
}
