/**
 * In-memory store of L2-normalized float32 vectors in one contiguous `Float32Array`, with exact
 * (brute-force) top-k cosine search. It is the reference index (README "Storage and consistency"), the
 * not-yet-indexed tail and re-ranker of the HNSW index, and the exact path for filtered queries.
 * @module
 */
import usearch from "usearch";
import { InvalidInputError } from "../../common/errors.ts";
import type { VectorHit } from "../ports.ts";
import { TopK } from "./top-k.ts";
import { gatherCodes, quantize } from "./vector-codes.ts";

/** Allow-lists at least this large are scanned natively (SIMD) instead of in JS. */
export const NATIVE_ALLOW_MIN = 2048;

/** Position strictly after which results continue: lower score, or equal score and greater id. */
export interface ScoreCursor {
  /** Score of the last result already returned. */
  score: number;
  /** Id of the last result already returned. */
  id: string;
}

/** True when a hit (score, id) comes after the cursor in result order. */
export function isAfter(score: number, id: string, after: ScoreCursor | undefined): boolean {
  return !after || score < after.score || (score === after.score && id > after.id);
}

/** Sorts hits best first, ties by id, so pages are deterministic. */
export function sortHits(hits: VectorHit[]): VectorHit[] {
  return hits.sort((a, b) => b.score - a.score || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/**
 * Contiguous vector store with exact search. Not thread-safe (single JS thread).
 * Removing swaps the last vector into the hole, so slots are dense.
 */
export class ExactVectorStore {
  private data: Float32Array;
  private capacity: number;
  private readonly slotOf = new Map<string, number>();
  private readonly idOf: string[] = [];
  /**
   * int8 copy of every vector (each scaled so its largest component is ±127), scanned natively for
   * large allow-lists: a quarter of the bytes to gather (docs/search.md "Filtered dense search").
   */
  private codes: Int8Array;
  /** Reused buffer the native scan copies allowed codes into. */
  private scratch = new Int8Array(0);
  /** Reused buffer of the quantized query. */
  private queryCodes: Int8Array;
  /** Store row handle of each slot (-1: none). */
  private handleOfSlot: Int32Array;
  /** Slot of each row handle (-1: none), indexed by handle; grows to the largest handle seen. */
  private slotOfHandle = new Int32Array(0);
  /** Slots that have a row handle. */
  private handled = 0;

  /**
   * @param dimension - vector length.
   * @param initialCapacity - vectors to allocate for; grows by doubling. @default 1024
   */
  constructor(
    readonly dimension: number,
    initialCapacity = 1024,
  ) {
    this.capacity = Math.max(1, initialCapacity);
    this.data = new Float32Array(this.capacity * dimension);
    this.codes = new Int8Array(this.capacity * dimension);
    this.queryCodes = new Int8Array(dimension);
    this.handleOfSlot = new Int32Array(this.capacity).fill(-1);
  }

  /**
   * True when every vector held has a row handle, so {@link searchHandles} sees them all (a store
   * that gives handles gives them for every row; docs/search.md "Filtered dense search").
   */
  get handlesComplete(): boolean {
    return this.handled === this.idOf.length;
  }

  /** Number of vectors held. */
  get size(): number {
    return this.idOf.length;
  }

  /** Throws `InvalidInputError` unless `v` has the store's dimension. */
  checkDimension(v: ArrayLike<number>, what: string): void {
    if (v.length !== this.dimension)
      throw new InvalidInputError(`${what} has dimension ${v.length} (expected ${this.dimension})`);
  }

  /** True when `id` has a vector. */
  has(id: string): boolean {
    return this.slotOf.has(id);
  }

  /** A view of the vector of `id` (valid until the next write), or undefined. */
  get(id: string): Float32Array | undefined {
    const slot = this.slotOf.get(id);
    return slot === undefined ? undefined : this.data.subarray(slot * this.dimension, (slot + 1) * this.dimension);
  }

  /**
   * Adds or replaces the vector of `id` (already normalized).
   * @param handle - the store's integer row handle of the KEM (SQLite `rid`), when it has one: a
   *   non-negative integer below 2^31, held by one live KEM at a time. A handle already given to
   *   another id is taken from it (that row was deleted and its handle reused).
   */
  set(id: string, vector: Float32Array, handle?: number): void {
    this.checkDimension(vector, "vector");
    let slot = this.slotOf.get(id);
    if (slot === undefined) {
      slot = this.idOf.length;
      if (slot >= this.capacity) this.grow();
      this.idOf.push(id);
      this.slotOf.set(id, slot);
    }
    this.data.set(vector, slot * this.dimension);
    quantize(vector, this.codes, slot * this.dimension);
    this.assignHandle(slot, handle);
  }

  private grow(): void {
    this.capacity *= 2;
    const grown = new Float32Array(this.capacity * this.dimension);
    grown.set(this.data);
    this.data = grown;
    const codes = new Int8Array(this.capacity * this.dimension);
    codes.set(this.codes);
    this.codes = codes;
    const handles = new Int32Array(this.capacity).fill(-1);
    handles.set(this.handleOfSlot);
    this.handleOfSlot = handles;
  }

  private assignHandle(slot: number, handle: number | undefined): void {
    const valid = handle !== undefined && Number.isInteger(handle) && handle >= 0 && handle < 2 ** 31;
    const old = this.handleOfSlot[slot]!;
    if (valid && old === handle) return;
    this.dropHandle(slot);
    if (!valid) return;
    if (handle >= this.slotOfHandle.length) {
      const grown = new Int32Array(Math.max(handle + 1, this.slotOfHandle.length * 2, 1024)).fill(-1);
      grown.set(this.slotOfHandle);
      this.slotOfHandle = grown;
    }
    const holder = this.slotOfHandle[handle]!;
    if (holder >= 0) this.dropHandle(holder);
    this.slotOfHandle[handle] = slot;
    this.handleOfSlot[slot] = handle;
    this.handled++;
  }

  private dropHandle(slot: number): void {
    const h = this.handleOfSlot[slot]!;
    if (h < 0) return;
    if (this.slotOfHandle[h] === slot) this.slotOfHandle[h] = -1;
    this.handleOfSlot[slot] = -1;
    this.handled--;
  }

  /** Removes the vector of `id`. @returns false when absent. */
  delete(id: string): boolean {
    const slot = this.slotOf.get(id);
    if (slot === undefined) return false;
    const last = this.idOf.length - 1;
    const dim = this.dimension;
    this.dropHandle(slot);
    if (slot !== last) {
      const lastId = this.idOf[last]!;
      this.data.copyWithin(slot * dim, last * dim, (last + 1) * dim);
      this.codes.copyWithin(slot * dim, last * dim, (last + 1) * dim);
      this.idOf[slot] = lastId;
      this.slotOf.set(lastId, slot);
      const h = this.handleOfSlot[last]!;
      this.handleOfSlot[slot] = h;
      this.handleOfSlot[last] = -1;
      if (h >= 0) this.slotOfHandle[h] = slot;
    }
    this.idOf.pop();
    this.slotOf.delete(id);
    return true;
  }

  /** Dot product of `query` with the vector of `id`, or undefined when absent. */
  score(query: Float32Array, id: string): number | undefined {
    const slot = this.slotOf.get(id);
    return slot === undefined ? undefined : Math.fround(this.dot(query, slot));
  }

  private dot(q: Float32Array, slot: number): number {
    const d = this.data;
    const base = slot * this.dimension;
    let s0 = 0,
      s1 = 0,
      s2 = 0,
      s3 = 0;
    let j = 0;
    const n = this.dimension - (this.dimension % 4);
    for (; j < n; j += 4) {
      s0 += q[j]! * d[base + j]!;
      s1 += q[j + 1]! * d[base + j + 1]!;
      s2 += q[j + 2]! * d[base + j + 2]!;
      s3 += q[j + 3]! * d[base + j + 3]!;
    }
    for (; j < this.dimension; j++) s0 += q[j]! * d[base + j]!;
    return s0 + s1 + s2 + s3;
  }

  /**
   * Exact top-k by cosine. With `allow`, only those ids are scored (cost O(|allow|·d));
   * with `after`, only hits after that cursor count (stable pagination).
   * @throws InvalidInputError for a query of the wrong dimension.
   */
  search(query: Float32Array, k: number, allow?: ReadonlySet<string>, after?: ScoreCursor): VectorHit[] {
    this.checkDimension(query, "query vector");
    if (k <= 0 || this.idOf.length === 0) return [];
    if (allow) {
      const slots = new Int32Array(allow.size);
      let n = 0;
      for (const id of allow) {
        const slot = this.slotOf.get(id);
        if (slot !== undefined) slots[n++] = slot;
      }
      return this.searchSlots(query, k, slots, n, after);
    }
    if (!after && this.idOf.length >= NATIVE_ALLOW_MIN) {
      const native = this.searchAllNative(query, k);
      if (native) return native;
    }
    const idOf = this.idOf;
    const top = new TopK(Math.min(k, idOf.length), (slot) => idOf[slot]!);
    for (let slot = 0; slot < idOf.length; slot++) this.offer(top, query, slot, after);
    return this.hitsOf(top);
  }

  /**
   * Unfiltered top-k with usearch's SIMD brute force straight over the contiguous float32 vectors
   * (no copy): 1.5 ms against 3.1 ms for the JS loop at 20,000 × 384 and k = 400 (load 2); the
   * best `2k + 16` are re-scored with {@link dot}, so scores and tie order are
   * exactly the JS loop's. Returns undefined (the caller scans in JS) when a tie reaches the edge
   * of the re-scored candidates, where the two could disagree.
   */
  private searchAllNative(query: Float32Array, k: number): VectorHit[] | undefined {
    const n = this.idOf.length;
    const count = Math.min(n, 2 * k + 16);
    const data = this.data.subarray(0, n * this.dimension);
    // usearch reads a typed array from the start of its buffer, ignoring `byteOffset`: a query that
    // is a view into a larger buffer (a batch of embeddings) must be copied, or another vector is searched.
    const q = query.byteOffset === 0 ? query : query.slice();
    const { keys } = usearch.exactSearch(data, q, this.dimension, count, usearch.MetricKind.IP, 1) as {
      keys: BigUint64Array;
    };
    const hits: VectorHit[] = [];
    for (let i = 0; i < keys.length; i++) {
      const slot = Number(keys[i]!);
      hits.push({ id: this.idOf[slot]!, score: Math.fround(this.dot(query, slot)) });
    }
    sortHits(hits);
    // Vectors beyond `count` score at most the last candidate's (up to rounding): a tie there
    // with the k-th could rank an unseen id first.
    if (count < n && hits.length > k && hits[k - 1]!.score <= hits[hits.length - 1]!.score) return undefined;
    return hits.slice(0, k);
  }

  /**
   * {@link search} within the vectors of the given row handles (distinct; handles this store does
   * not hold are skipped): a filter's matches as integers, with no id strings to look up. Meant
   * for a store whose {@link handlesComplete} is true.
   * @throws InvalidInputError for a query of the wrong dimension.
   */
  searchHandles(query: Float32Array, k: number, handles: ArrayLike<number>, after?: ScoreCursor): VectorHit[] {
    this.checkDimension(query, "query vector");
    if (k <= 0 || this.idOf.length === 0) return [];
    const slotOfHandle = this.slotOfHandle;
    const slots = new Int32Array(handles.length);
    let n = 0;
    for (let i = 0; i < handles.length; i++) {
      const h = handles[i]!;
      const slot = h >= 0 && h < slotOfHandle.length ? slotOfHandle[h]! : -1;
      if (slot >= 0) slots[n++] = slot;
    }
    return this.searchSlots(query, k, slots, n, after);
  }

  private offer(top: TopK, query: Float32Array, slot: number, after: ScoreCursor | undefined): void {
    // float32 scores everywhere, so a page cursor compares equal to the score it came from.
    const s = Math.fround(this.dot(query, slot));
    if (top.accepts(s, slot) && isAfter(s, this.idOf[slot]!, after)) top.push(s, slot);
  }

  private hitsOf(top: TopK): VectorHit[] {
    return top.sorted().map(({ score, slot }) => ({ id: this.idOf[slot]!, score }));
  }

  /** Top-k among the first `n` of `slots` (distinct). */
  private searchSlots(
    query: Float32Array,
    k: number,
    slots: Int32Array,
    n: number,
    after: ScoreCursor | undefined,
  ): VectorHit[] {
    if (n === 0) return [];
    if (!after && n >= NATIVE_ALLOW_MIN) {
      return this.searchSlotsNative(query, k, slots, n);
    }
    const idOf = this.idOf;
    const top = new TopK(Math.min(k, n), (slot) => idOf[slot]!);
    for (let i = 0; i < n; i++) this.offer(top, query, slots[i]!, after);
    return this.hitsOf(top);
  }

  /**
   * Top-k over many slots with usearch's SIMD brute force on the int8 copy: the slots' codes are
   * gathered into one buffer and ranked by int8 cosine natively (gather and scan of 10,000 vectors
   * of 384 dimensions measured 2.6 ms against 5.8 ms in float32 and 7 ms for the JS loop), then
   * the best `4k + 64` are re-scored in float32 with {@link dot}, so scores and tie order are the
   * JS path's. The int8 ranking only picks which candidates are re-scored: a vector ranked outside
   * them by int8 but inside the top k by float32 would be missed (none in the agreement test;
   * docs/search.md "Filtered dense search").
   */
  private searchSlotsNative(query: Float32Array, k: number, slots: Int32Array, n: number): VectorHit[] {
    const dim = this.dimension;
    if (this.scratch.length < n * dim) this.scratch = new Int8Array(Math.max(n * dim, this.scratch.length * 2));
    const buf = this.scratch.subarray(0, n * dim);
    gatherCodes(this.codes, slots, n, dim, buf);
    quantize(query, this.queryCodes, 0);
    const count = Math.min(n, 4 * k + 64);
    const { keys } = usearch.exactSearch(buf, this.queryCodes, dim, count, usearch.MetricKind.Cos, 1) as {
      keys: BigUint64Array;
    };
    const top = new TopK(Math.min(k, n), (slot) => this.idOf[slot]!);
    for (let i = 0; i < keys.length; i++) this.offer(top, query, slots[Number(keys[i]!)]!, undefined);
    return this.hitsOf(top);
  }

  /** Ids of the given row handles (those held). */
  idsOfHandles(handles: ArrayLike<number>): string[] {
    const out: string[] = [];
    for (let i = 0; i < handles.length; i++) {
      const h = handles[i]!;
      const slot = h >= 0 && h < this.slotOfHandle.length ? this.slotOfHandle[h]! : -1;
      if (slot >= 0) out.push(this.idOf[slot]!);
    }
    return out;
  }

  /** Every id held (a snapshot array). */
  ids(): string[] {
    return this.idOf.slice();
  }
}
