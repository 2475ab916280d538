/**
 * Query planning shared by the working-set backends (docs/consistency.md "SWM is a cache"): which metadata filters can
 * use an index, how the rest is checked, and the `updated_at` desc, id desc order with its keyset
 * cursor.
 * @module
 */
import type { KemFilter, KemRecord, UpdatedCursor } from "../../common/kem-record.ts";

/** A filter split into the part an index answers and the part checked per record. */
export interface QueryPlan {
  /** Indexed metadata filters with string values (answered by index sets). */
  indexed: [string, string][];
  /** Remaining metadata filters (checked with `===` on each record). */
  rest: [string, string | number | boolean][];
}

/**
 * Splits metadata filters: string values on indexed keys go to the index (only string values are
 * indexed), everything else is checked per record.
 */
export function planQuery(filter: KemFilter, indexedKeys: readonly string[]): QueryPlan {
  const indexed: [string, string][] = [];
  const rest: [string, string | number | boolean][] = [];
  for (const [k, v] of Object.entries(filter.metadata ?? {})) {
    if (typeof v === "string" && indexedKeys.includes(k)) indexed.push([k, v]);
    else rest.push([k, v]);
  }
  return { indexed, rest };
}

/** True when `rec` passes the non-indexed metadata filters and the date ranges of `filter`. */
export function matchesRest(rec: KemRecord, plan: QueryPlan, filter: KemFilter): boolean {
  for (const [k, v] of plan.rest) if (rec.metadata[k] !== v) return false;
  return inDateRange(rec.createdAtUs, rec.updatedAtUs, filter);
}

/** True when the timestamps (µs) fall inside every date bound of `filter` (bounds inclusive). */
export function inDateRange(createdAtUs: number, updatedAtUs: number, filter: KemFilter): boolean {
  if (filter.createdFromUs !== undefined && createdAtUs < filter.createdFromUs) return false;
  if (filter.createdToUs !== undefined && createdAtUs > filter.createdToUs) return false;
  if (filter.updatedFromUs !== undefined && updatedAtUs < filter.updatedFromUs) return false;
  if (filter.updatedToUs !== undefined && updatedAtUs > filter.updatedToUs) return false;
  return true;
}

/** Sort comparator: `updated_at` desc, then id desc (the QuerySWM order). */
export function newestFirst(a: { updatedAtUs: number; id: string }, b: { updatedAtUs: number; id: string }): number {
  if (a.updatedAtUs !== b.updatedAtUs) return b.updatedAtUs - a.updatedAtUs;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

/** True when a position comes strictly after `cursor` in {@link newestFirst} order. */
export function isAfter(pos: { updatedAtUs: number; id: string }, cursor: UpdatedCursor | undefined): boolean {
  if (!cursor) return true;
  return pos.updatedAtUs < cursor.updatedAtUs || (pos.updatedAtUs === cursor.updatedAtUs && pos.id < cursor.id);
}

/** Intersects id lists (the first list's order kept); undefined inputs mean "no restriction". */
export function intersectIds(a: Iterable<string> | undefined, b: Iterable<string> | undefined): string[] | undefined {
  if (!a) return b ? [...b] : undefined;
  if (!b) return [...a];
  const bs = b instanceof Set ? (b as Set<string>) : new Set(b);
  return [...a].filter((id) => bs.has(id));
}

/** Approximate memory of a record in bytes (content + embedding + metadata JSON + fixed overhead). */
export function recordBytes(rec: KemRecord): number {
  return (
    rec.content.byteLength +
    (rec.embedding ? rec.embedding.byteLength : 0) +
    JSON.stringify(rec.metadata).length +
    rec.id.length * 2 +
    200
  );
}

/**
 * The first `limit` records in {@link newestFirst} order among those after `after` that pass
 * `keep`, in O(n log limit) (no full sort of large candidate sets).
 */
export function topNewest<T extends { updatedAtUs: number; id: string }>(
  candidates: Iterable<T>,
  keep: (r: T) => boolean,
  after: UpdatedCursor | undefined,
  limit: number,
): T[] {
  const top: T[] = [];
  if (limit <= 0) return top;
  for (const r of candidates) {
    if (top.length === limit && newestFirst(r, top[limit - 1]!) >= 0) continue;
    if (!isAfter(r, after) || !keep(r)) continue;
    let lo = 0;
    let hi = top.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (newestFirst(top[mid]!, r) <= 0) lo = mid + 1;
      else hi = mid;
    }
    top.splice(lo, 0, r);
    if (top.length > limit) top.pop();
  }
  return top;
}
