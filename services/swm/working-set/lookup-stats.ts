/**
 * Hit/miss counters of SWM id lookups (README "Metrics and logs"), as a decorator over any
 * {@link WorkingSet} so both backends count the same way.
 *
 * An id lookup is `WorkingSet.query` with an `ids` filter on its first page (no `after` cursor):
 * QuerySWM by ids, which is how the Agent SDK reads through SWM before GLM. Each distinct
 * requested id that comes back is a hit, each one that does not is a miss (not cached, or excluded
 * by the other filters). When a query fills its `limit` the ids beyond the page are unknown: only
 * the hits are counted. `WorkingSet.get` is not counted: the runtime uses it internally (access
 * checks), not as a cache read on behalf of an agent.
 * @module
 */

import type { KemRecord } from "../../common/kem-record.ts";
import type { WorkingSet } from "../ports.ts";

/** Id lookup counters since start. */
export interface LookupStats {
  /** Requested ids answered from the working set. */
  hits: number;
  /** Requested ids the working set did not answer. */
  misses: number;
  /** `hits / (hits + misses)`, 0 before the first lookup. */
  hitRatio: number;
}

/** A working set that counts its id lookups. */
export interface LookupCountingWorkingSet extends WorkingSet {
  /** Counters since this decorator was created. */
  lookupStats(): LookupStats;
}

/** True when `ws` counts id lookups (see {@link countLookups}). */
export function hasLookupStats(ws: WorkingSet): ws is LookupCountingWorkingSet {
  return typeof (ws as Partial<LookupCountingWorkingSet>).lookupStats === "function";
}

/**
 * Wraps a working set so its id lookups are counted; every other call passes through unchanged
 * (same errors). Wrapping an already counting working set returns it as is.
 * @param inner - the working set (Redis or in-process).
 * @returns a working set with {@link LookupCountingWorkingSet.lookupStats}.
 */
export function countLookups(inner: WorkingSet): LookupCountingWorkingSet {
  if (hasLookupStats(inner)) return inner;
  let hits = 0;
  let misses = 0;
  const count = (ids: readonly string[], rows: readonly KemRecord[], complete: boolean) => {
    const wanted = new Set(ids);
    let found = 0;
    for (const r of rows) if (wanted.delete(r.id)) found++;
    hits += found;
    if (complete) misses += wanted.size;
  };
  return {
    get indexedKeys() {
      return inner.indexedKeys;
    },
    put: (items, options) => inner.put(items, options),
    refresh: (items, options) => inner.refresh(items, options),
    get: (ids) => inner.get(ids),
    delete: (id, options) => inner.delete(id, options),
    async query(q) {
      const rows = await inner.query(q);
      if (q.filter.ids && q.after === undefined) count(q.filter.ids, rows, rows.length < q.limit);
      return rows;
    },
    stats: () => inner.stats(),
    close: () => inner.close(),
    lookupStats() {
      const total = hits + misses;
      return { hits, misses, hitRatio: total === 0 ? 0 : hits / total };
    },
  };
}
