/**
 * The reference vector index: exact cosine search over an {@link ExactVectorStore}
 * (about 30 ms per query at 100k×384: `glm.search/exact-100k` in bench/README.md). Right for small stores and as the
 * ground truth approximate indexes are measured against.
 * @module
 */
import type { VectorIndex } from "../ports.ts";
import { ExactVectorStore } from "./exact-store.ts";

/** Options of {@link createExactVectorIndex}. */
export interface ExactVectorIndexOptions {
  /** Vector dimension (e.g. 384). */
  dimension: number;
  /** Initial capacity in vectors; grows by doubling. @default 1024 */
  initialCapacity?: number;
}

/**
 * Creates an exact (brute-force) cosine index: O(n·d) per query, O(|allow|·d) with a filter.
 * @returns a {@link VectorIndex}; `upsert`/`search` reject with `InvalidInputError`
 *   (→ `InvalidArgument`) for a vector of the wrong dimension.
 */
export function createExactVectorIndex(options: ExactVectorIndexOptions): VectorIndex {
  let store = new ExactVectorStore(options.dimension, options.initialCapacity);
  return {
    dimension: options.dimension,
    external: false,
    async upsert(entries) {
      for (const e of entries) store.checkDimension(e.vector, "vector");
      for (const e of entries) store.set(e.id, e.vector, e.handle);
    },
    async remove(ids) {
      for (const id of ids) store.delete(id);
    },
    async search(query, k, opts = {}) {
      if (opts.allowHandles) return store.searchHandles(query, k, opts.allowHandles, opts.after);
      return store.search(query, k, opts.allow, opts.after);
    },
    handlesComplete: () => store.handlesComplete,
    async clear() {
      store = new ExactVectorStore(options.dimension, options.initialCapacity);
    },
    stats: () => ({ size: store.size, unindexed: 0, kind: "exact" }),
    async close() {},
  };
}
