/**
 * LocalAgentMemory (LPA, "ЛПА"): the agent-side cache of KEMs (docs/consistency.md),
 * an {@link IndexedLRUCache} of `KEM` messages indexed by chosen metadata keys.
 * Browser-safe: no `node:` or `bun:` imports.
 * @module
 */
import type { Timestamp } from "@bufbuild/protobuf/wkt";
import type { KEM } from "./gen/dcsm/v1/kem_pb.ts";
import { IndexedLRUCache } from "./indexed-lru-cache.ts";
import { formatLpaMetrics, type LocalAgentMemoryStats } from "./lpa-metrics.ts";

export type { LocalAgentMemoryStats } from "./lpa-metrics.ts";

/** Options of {@link LocalAgentMemory}. */
export interface LocalAgentMemoryOptions {
  /** Most KEMs kept; the least recently used one is dropped past it. @default 1000 */
  maxEntries?: number;
  /** Metadata keys indexed for {@link LocalAgentMemory.query} (string values only). @default [] */
  indexedKeys?: readonly string[];
}

/** A local query: every given criterion must hold. */
export interface LocalQuery {
  /** Equality on top-level metadata keys; indexed keys with string values use the indexes. */
  metadataFilters?: Readonly<Record<string, string | number | boolean>>;
  /** Restrict to these ids. */
  ids?: readonly string[];
  /** Most results. @default unlimited */
  limit?: number;
}

/** Orders two timestamps (null sorts first). @returns negative, 0 or positive. */
export function compareTimestamps(a: Timestamp | undefined, b: Timestamp | undefined): number {
  if (!a || !b) return (a ? 1 : 0) - (b ? 1 : 0);
  if (a.seconds !== b.seconds) return a.seconds < b.seconds ? -1 : 1;
  return a.nanos - b.nanos;
}

/**
 * The agent's local memory: an LRU of KEMs with metadata indexes. Writes never
 * replace a cached KEM with an older one (by `updated_at`), so a slow read cannot undo a newer
 * event. Not persistent; one per SDK instance. Counts `get(id)` hits and misses ({@link stats}).
 */
export class LocalAgentMemory {
  private readonly cache: IndexedLRUCache<KEM>;
  private readonly maxEntries: number;
  private hits = 0;
  private misses = 0;

  /** @throws RangeError when `maxEntries` is not an integer >= 1. */
  constructor(options: LocalAgentMemoryOptions = {}) {
    this.maxEntries = options.maxEntries ?? 1000;
    this.cache = new IndexedLRUCache<KEM>({
      max: this.maxEntries,
      indexedKeys: options.indexedKeys ?? [],
      metadataOf: (k) => k.metadata,
    });
  }

  /** Number of cached KEMs. */
  get size(): number {
    return this.cache.size;
  }

  /** The indexed metadata keys. */
  get indexedKeys(): readonly string[] {
    return this.cache.indexedKeys;
  }

  /** The cached KEM with this id (made most recently used), or undefined. Counts a hit or a miss. */
  get(id: string): KEM | undefined {
    const kem = this.cache.get(id);
    if (kem) this.hits++;
    else this.misses++;
    return kem;
  }

  /**
   * Size and `get(id)` hit/miss counters since construction or {@link resetStats}. LPA hit ratios
   * are client-side: the server's `/metrics` cannot see them.
   */
  stats(): LocalAgentMemoryStats {
    const total = this.hits + this.misses;
    return {
      entries: this.cache.size,
      maxEntries: this.maxEntries,
      hits: this.hits,
      misses: this.misses,
      hitRatio: total === 0 ? 0 : this.hits / total,
    };
  }

  /** Zeroes the hit and miss counters. */
  resetStats(): void {
    this.hits = 0;
    this.misses = 0;
  }

  /**
   * {@link stats} in the Prometheus text format (`dcsm_lpa_*`, see `formatLpaMetrics`).
   * @param labels - constant labels, e.g. `{ agent_id: "planner-1" }`.
   * @throws TypeError for an invalid label name.
   */
  prometheusText(labels: Readonly<Record<string, string>> = {}): string {
    return formatLpaMetrics(this.stats(), labels);
  }

  /** The cached KEM without touching recency, or undefined. */
  peek(id: string): KEM | undefined {
    return this.cache.peek(id);
  }

  /** True when a KEM with this id is cached. */
  has(id: string): boolean {
    return this.cache.has(id);
  }

  /**
   * Caches `kem` unless a KEM with the same id and a newer `updated_at` is already cached.
   * @returns true when stored.
   * @throws TypeError when `kem.id` is empty.
   */
  put(kem: KEM): boolean {
    if (!kem.id) throw new TypeError("LocalAgentMemory.put: the KEM has no id");
    const cur = this.cache.peek(kem.id);
    if (cur && compareTimestamps(cur.updatedAt, kem.updatedAt) > 0) return false;
    this.cache.set(kem.id, kem);
    return true;
  }

  /** Removes a KEM. @returns true when it was cached. */
  delete(id: string): boolean {
    return this.cache.delete(id) !== undefined;
  }

  /** Removes every KEM. */
  clear(): void {
    this.cache.clear();
  }

  /** Ids of every cached KEM, most recently used first. */
  ids(): string[] {
    return [...this.cache.entries()].map(([id]) => id);
  }

  /**
   * KEMs matching `q`, newest `updated_at` first (indexed string filters
   * intersect index sets before other filters run). Recency is untouched.
   */
  query(q: LocalQuery = {}): KEM[] {
    let rows: KEM[];
    if (q.ids && !q.metadataFilters) {
      rows = [...new Set(q.ids)].map((id) => this.cache.peek(id)).filter((k): k is KEM => k !== undefined);
    } else rows = this.cache.query(q.metadataFilters ?? {});
    if (q.ids && q.metadataFilters) {
      const want = new Set(q.ids);
      rows = rows.filter((k) => want.has(k.id));
    }
    rows.sort((a, b) => compareTimestamps(b.updatedAt, a.updatedAt) || (a.id < b.id ? -1 : 1));
    return q.limit !== undefined ? rows.slice(0, Math.max(0, q.limit)) : rows;
  }
}
