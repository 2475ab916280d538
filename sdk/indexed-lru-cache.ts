/**
 * `IndexedLRUCache`: an LRU cache (on the `lru-cache` package) whose entries are also indexed by the
 * values of chosen metadata keys, so equality queries intersect small id sets instead of scanning
 * (docs/consistency.md "SWM is a cache"). SWM's in-process working set and the Agent SDK's local memory both use it.
 *
 * Browser-safe: no `node:` or `bun:` imports.
 * @module
 */
import { LRUCache } from "lru-cache";

/** Options of {@link IndexedLRUCache}. */
export interface IndexedLRUCacheOptions<V> {
  /** Maximum number of entries; the least recently used entry is evicted past it. Must be >= 1. */
  max: number;
  /** Optional bound on the total size of the entries (units of `sizeOf`, e.g. bytes). @default none */
  maxSize?: number;
  /** Size of one entry, required with `maxSize` (a positive integer). @default none */
  sizeOf?: (value: V, key: string) => number;
  /** Metadata keys to index. Only string values are indexed. @default [] */
  indexedKeys?: readonly string[];
  /** Returns the metadata object of a value (top-level keys are looked up). */
  metadataOf: (value: V) => Readonly<Record<string, unknown>> | null | undefined;
  /**
   * Called after an entry left the cache because of LRU pressure (`max` or `maxSize`), after its
   * index entries were removed. Not called for `delete`, `clear` or replacement by `set`.
   */
  onEvict?: (key: string, value: V) => void;
}

/**
 * LRU cache with secondary indexes on metadata values.
 *
 * - `get` and `set` make an entry most recently used; `peek` does not.
 * - Replacing an entry first removes its old index entries, then adds the new ones.
 * - Eviction, `delete` and `clear` remove the entry from every index, so an index never holds the
 *   key of an entry that is not in the cache.
 * @typeParam V - the cached value type.
 */
export class IndexedLRUCache<V> {
  /** The indexed metadata keys, in configuration order. */
  readonly indexedKeys: readonly string[];
  private readonly lru: LRUCache<string, V & {}>;
  private readonly indexes = new Map<string, Map<string, Set<string>>>();
  private readonly metadataOf: IndexedLRUCacheOptions<V>["metadataOf"];

  /**
   * @param options - capacity, indexed keys and callbacks.
   * @throws RangeError when `max` is below 1, or `maxSize` is set without `sizeOf`.
   */
  constructor(options: IndexedLRUCacheOptions<V>) {
    if (!Number.isInteger(options.max) || options.max < 1)
      throw new RangeError("IndexedLRUCache max must be an integer >= 1");
    if (options.maxSize !== undefined && !options.sizeOf) throw new RangeError("IndexedLRUCache maxSize needs sizeOf");
    this.indexedKeys = [...new Set(options.indexedKeys ?? [])];
    for (const k of this.indexedKeys) this.indexes.set(k, new Map());
    this.metadataOf = options.metadataOf;
    const onEvict = options.onEvict;
    this.lru = new LRUCache<string, V & {}>({
      max: options.max,
      ...(options.maxSize !== undefined
        ? {
            maxSize: options.maxSize,
            sizeCalculation: (v: V & {}, k: string) => Math.max(1, Math.ceil(options.sizeOf!(v, k))),
          }
        : {}),
      dispose: (value, key, reason) => {
        this.unindex(key, value);
        if (reason === "evict" && onEvict) onEvict(key, value);
      },
    });
  }

  /** Number of entries. */
  get size(): number {
    return this.lru.size;
  }

  /** Total size of the entries in `sizeOf` units (0 without `maxSize`). */
  get calculatedSize(): number {
    return this.lru.calculatedSize;
  }

  /** The value of `key`, made most recently used; undefined when absent. */
  get(key: string): V | undefined {
    return this.lru.get(key);
  }

  /** The value of `key` without touching its recency; undefined when absent. */
  peek(key: string): V | undefined {
    return this.lru.peek(key);
  }

  /** True when `key` is cached (recency untouched). */
  has(key: string): boolean {
    return this.lru.has(key);
  }

  /**
   * Inserts or replaces `key` and makes it most recently used; may evict older entries.
   * @returns the previous value, or undefined when the key was new.
   * @throws RangeError when the value alone is larger than `maxSize`.
   */
  set(key: string, value: V & {}): V | undefined {
    const previous = this.lru.peek(key);
    this.lru.set(key, value);
    if (this.lru.peek(key) !== value) throw new RangeError(`IndexedLRUCache entry ${key} is larger than maxSize`);
    this.index(key, value);
    return previous;
  }

  /** Removes `key` (and its index entries). @returns the removed value, or undefined. */
  delete(key: string): V | undefined {
    const previous = this.lru.peek(key);
    if (previous !== undefined) this.lru.delete(key);
    return previous;
  }

  /** Removes every entry (no `onEvict` calls). */
  clear(): void {
    this.lru.clear();
    for (const m of this.indexes.values()) m.clear();
  }

  /** Values from most to least recently used, recency untouched. */
  *values(): IterableIterator<V> {
    yield* this.lru.values();
  }

  /** Entries from most to least recently used, recency untouched. */
  *entries(): IterableIterator<[string, V]> {
    yield* this.lru.entries();
  }

  /** True when `key` is an indexed metadata key. */
  isIndexed(key: string): boolean {
    return this.indexes.has(key);
  }

  /**
   * Keys whose metadata has every given indexed `key = value` (string values), by intersecting the
   * index sets smallest first. Filters on keys that are not indexed, or with non-string values,
   * are ignored here (apply them to the values afterwards).
   * @returns the matching keys, or null when no filter could use an index.
   */
  keysWhere(filters: Readonly<Record<string, unknown>>): Set<string> | null {
    const keys = this.matchingKeys(filters);
    return keys === null ? null : new Set(keys);
  }

  /**
   * Like {@link keysWhere} but may return an internal index set (one usable filter) instead of a
   * copy: callers must only iterate it, at once.
   */
  private matchingKeys(filters: Readonly<Record<string, unknown>>): ReadonlySet<string> | null {
    const sets: Set<string>[] = [];
    for (const k of Object.keys(filters)) {
      const idx = this.indexes.get(k);
      const v = filters[k];
      if (!idx || typeof v !== "string") continue;
      sets.push(idx.get(v) ?? new Set());
    }
    if (sets.length === 0) return null;
    if (sets.length === 1) return sets[0]!;
    sets.sort((a, b) => a.size - b.size);
    const out = new Set<string>();
    outer: for (const key of sets[0]!) {
      for (let i = 1; i < sets.length; i++) if (!sets[i]!.has(key)) continue outer;
      out.add(key);
    }
    return out;
  }

  /**
   * Values whose metadata equals every filter (`===` on top-level keys): indexed string filters use
   * the indexes, the rest are checked per value. Recency is untouched; order is unspecified.
   * @param filters - metadata equality filters; empty matches every entry.
   */
  query(filters: Readonly<Record<string, unknown>>): V[] {
    const keys = this.matchingKeys(filters);
    const candidates: V[] = [];
    if (keys) {
      for (const k of keys) {
        const v = this.lru.peek(k);
        if (v !== undefined) candidates.push(v);
      }
    } else {
      for (const v of this.lru.values()) candidates.push(v);
    }
    let rest: [string, unknown][] | undefined;
    for (const k of Object.keys(filters)) {
      const v = filters[k];
      if (this.indexes.has(k) && typeof v === "string") continue;
      if (!rest) rest = [];
      rest.push([k, v]);
    }
    if (!rest) return candidates;
    const others = rest;
    return candidates.filter((v) => {
      const md = this.metadataOf(v);
      return !!md && others.every(([k, want]) => md[k] === want);
    });
  }

  /** Number of keys indexed under `key = value` (for tests and metrics). */
  indexCount(key: string, value: string): number {
    return this.indexes.get(key)?.get(value)?.size ?? 0;
  }

  /** Total number of (value, key) pairs across all indexes (for tests and metrics). */
  indexEntries(): number {
    let n = 0;
    for (const m of this.indexes.values()) for (const s of m.values()) n += s.size;
    return n;
  }

  private index(key: string, value: V): void {
    this.forEachIndexed(value, (idx, v) => {
      let set = idx.get(v);
      if (!set) {
        set = new Set();
        idx.set(v, set);
      }
      set.add(key);
    });
  }

  private unindex(key: string, value: V): void {
    this.forEachIndexed(value, (idx, v) => {
      const set = idx.get(v);
      if (!set) return;
      set.delete(key);
      if (set.size === 0) idx.delete(v);
    });
  }

  /** Calls `fn` with each index and `value`'s string value of its key (values of other types are not indexed). */
  private forEachIndexed(value: V, fn: (idx: Map<string, Set<string>>, v: string) => void): void {
    if (this.indexes.size === 0) return;
    const md = this.metadataOf(value);
    if (!md) return;
    for (const [k, idx] of this.indexes) {
      const v = md[k];
      if (typeof v === "string") fn(idx, v);
    }
  }
}
