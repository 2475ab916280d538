/**
 * In-process working set on {@link IndexedLRUCache}: the embedded default. KEMs are
 * kept as records; the cache bounds entries (and optionally bytes) with LRU eviction, and its
 * eviction callback cleans the indexes and emits KEM_EVICTED. Every change appends to a
 * {@link MemoryEventLog} in the same synchronous step, so events and cache never disagree.
 * @module
 */
import type { JsonObject } from "@bufbuild/protobuf";
import { IndexedLRUCache } from "../../../sdk/indexed-lru-cache.ts";
import { SWM_DEFAULTS } from "../../common/defaults.ts";
import { LimitExceededError } from "../../common/errors.ts";
import type { KemRecord } from "../../common/kem-record.ts";
import { nowMicros } from "../../common/time.ts";
import type { MemoryEventLog } from "../events/memory-event-log.ts";
import type { PutOptions, PutResult, WorkingSet, WorkingSetQuery } from "../ports.ts";
import { DateOrder } from "./date-order.ts";
import { intersectIds, matchesRest, planQuery, recordBytes, topNewest } from "./query-plan.ts";

/** Options of {@link createMemoryWorkingSet}. */
export interface MemoryWorkingSetOptions {
  /** Event log the changes are appended to. */
  events: MemoryEventLog;
  /** Maximum number of cached KEMs. @default 100000 */
  maxEntries?: number;
  /** Optional bound on cached bytes (content + embedding + metadata, approximate). @default none */
  maxBytes?: number;
  /** Metadata keys to index (string values). @default [] */
  indexedKeys?: readonly string[];
}

/** The in-process working set, with access to its cache for tests and metrics. */
export interface MemoryWorkingSet extends WorkingSet {
  /** The underlying cache (index inspection in tests). */
  readonly cache: IndexedLRUCache<KemRecord>;
}

function indexedMetadata(rec: KemRecord, keys: readonly string[]): JsonObject {
  const out: JsonObject = {};
  for (const k of keys) {
    const v = rec.metadata[k];
    if (typeof v === "string") out[k] = v;
  }
  return out;
}

/**
 * Creates the in-process working set.
 * @param options - event log, bounds and indexed keys.
 * @throws RangeError for a bound below 1.
 */
export function createMemoryWorkingSet(options: MemoryWorkingSetOptions): MemoryWorkingSet {
  const { events } = options;
  const indexedKeys = [...new Set(options.indexedKeys ?? [])];
  let evictions = 0;
  const order = new DateOrder<KemRecord>();
  const cache = new IndexedLRUCache<KemRecord>({
    max: options.maxEntries ?? SWM_DEFAULTS.maxEntries,
    ...(options.maxBytes !== undefined ? { maxSize: options.maxBytes, sizeOf: recordBytes } : {}),
    indexedKeys,
    metadataOf: (r) => r.metadata,
    onEvict: (id, rec) => {
      evictions++;
      order.remove(rec);
      events.append({
        kind: "evicted",
        kemId: id,
        metadata: indexedMetadata(rec, indexedKeys),
        agentId: "",
        timeMs: Date.now(),
        details: "evicted by LRU",
      });
    },
  });

  function store(rec: KemRecord, existed: boolean, opts: PutOptions): number {
    let prev: KemRecord | undefined;
    try {
      prev = cache.set(rec.id, rec);
    } catch (err) {
      throw new LimitExceededError(`KEM ${rec.id} is larger than the working set's byte bound`, { cause: err });
    }
    if (prev) order.remove(prev);
    order.add(rec);
    return events.append({
      kind: existed ? "updated" : "published",
      kemId: rec.id,
      kem: rec,
      metadata: rec.metadata,
      agentId: opts.agentId,
      timeMs: Date.now(),
      details: opts.details ?? "",
    });
  }

  return {
    cache,
    indexedKeys,
    async put(items, opts) {
      const out: PutResult[] = [];
      for (const item of items) {
        const prev = cache.peek(item.id);
        const now = nowMicros();
        const { id, contentType, content, metadata, embedding } = item;
        const record: KemRecord = opts.keepTimestamps
          ? {
              id,
              contentType,
              content,
              metadata,
              embedding,
              createdAtUs: item.createdAtUs ?? now,
              updatedAtUs: item.updatedAtUs ?? now,
            }
          : {
              id,
              contentType,
              content,
              metadata,
              embedding,
              createdAtUs: prev?.createdAtUs ?? now,
              updatedAtUs: Math.max(now, (prev?.updatedAtUs ?? 0) + 1),
            };
        const sequence = store(record, prev !== undefined, opts);
        out.push({ record, existed: prev !== undefined, sequence });
      }
      return out;
    },
    async refresh(items, opts) {
      // `timestampsOnly` changes nothing here: storing the record costs the same either way.
      return items.map(({ record, expectedUpdatedAtUs }) => {
        const cur = cache.peek(record.id);
        if (!cur || cur.updatedAtUs !== expectedUpdatedAtUs) return false;
        store(record, true, opts);
        return true;
      });
    },
    async get(ids) {
      const out: KemRecord[] = [];
      for (const id of ids) {
        const r = cache.get(id);
        if (r) out.push(r);
      }
      return out;
    },
    async delete(id, opts) {
      const prev = cache.delete(id);
      if (!prev) return false;
      order.remove(prev);
      events.append({
        kind: "deleted",
        kemId: id,
        metadata: indexedMetadata(prev, indexedKeys),
        agentId: opts.agentId,
        timeMs: Date.now(),
        details: opts.details ?? "",
      });
      return true;
    },
    async query(q: WorkingSetQuery) {
      const plan = planQuery(q.filter, indexedKeys);
      const indexed =
        plan.indexed.length > 0 ? (cache.keysWhere(Object.fromEntries(plan.indexed)) ?? undefined) : undefined;
      // A common indexed value (|set|² > limit·n): walking newest first and testing membership
      // reaches a page in about limit·n/|set| steps, fewer than ranking the whole set.
      const walkIndexed = !q.filter.ids && indexed !== undefined && indexed.size * indexed.size > q.limit * cache.size;
      const ids = walkIndexed ? undefined : intersectIds(q.filter.ids, indexed);
      let page: KemRecord[];
      if (ids) {
        const candidates = ids.map((id) => cache.peek(id)).filter((r): r is KemRecord => r !== undefined);
        page = topNewest(candidates, (r) => matchesRest(r, plan, q.filter), q.after, q.limit);
      } else {
        page = [];
        for (const r of order.newestFirst(q.after, q.filter.updatedFromUs, q.filter.updatedToUs)) {
          if ((walkIndexed && !indexed!.has(r.id)) || !matchesRest(r, plan, q.filter)) continue;
          page.push(r);
          if (page.length === q.limit) break;
        }
      }
      for (const r of page) cache.get(r.id); // reading makes them recently used
      return page;
    },
    async stats() {
      return { kems: cache.size, repairedStaleIds: 0, evictions };
    },
    async close() {},
  };
}
