/**
 * The reference vector index: exact cosine search over one contiguous `Float32Array` of
 * L2-normalized vectors (DESIGN.md "Vector index"). Serves small and heavily filtered sets, and is
 * the ground truth that approximate indexes are measured against.
 * @module
 */
import { InvalidInputError } from "../../shared/errors.ts";
import type { VectorHit, VectorIndex } from "../ports.ts";

/** Options of {@link createExactVectorIndex}. */
export interface ExactVectorIndexOptions {
  /** Vector dimension (e.g. 384). */
  dimension: number;
  /** Initial capacity in vectors; grows by doubling. @default 1024 */
  initialCapacity?: number;
}

/**
 * Min-heap of (score, slot) of bounded size k: keeps the k largest scores seen.
 * Kept as two parallel typed arrays to avoid allocation per candidate.
 */
class TopK {
  readonly scores: Float32Array;
  readonly slots: Int32Array;
  size = 0;
  constructor(readonly k: number) {
    this.scores = new Float32Array(k);
    this.slots = new Int32Array(k);
  }
  /** Lowest score kept, or -Infinity while not full. */
  get floor(): number {
    return this.size < this.k ? -Infinity : this.scores[0]!;
  }
  push(score: number, slot: number): void {
    const { scores, slots } = this;
    if (this.size < this.k) {
      let i = this.size++;
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (scores[p]! <= score) break;
        scores[i] = scores[p]!;
        slots[i] = slots[p]!;
        i = p;
      }
      scores[i] = score;
      slots[i] = slot;
      return;
    }
    if (score <= scores[0]!) return;
    let i = 0;
    const n = this.size;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && scores[r]! < scores[l]! ? r : l;
      if (scores[c]! >= score) break;
      scores[i] = scores[c]!;
      slots[i] = slots[c]!;
      i = c;
    }
    scores[i] = score;
    slots[i] = slot;
  }
  /** Entries sorted best first. */
  sorted(): { score: number; slot: number }[] {
    const out: { score: number; slot: number }[] = [];
    for (let i = 0; i < this.size; i++) out.push({ score: this.scores[i]!, slot: this.slots[i]! });
    return out.sort((a, b) => b.score - a.score);
  }
}

/**
 * Creates an exact (brute-force) cosine index.
 * Cost: O(n·d) per query without a filter, O(|allow|·d) with one.
 * @param options - dimension and initial capacity.
 * @returns a {@link VectorIndex}; `upsert`/`search` throw `InvalidInputError` (→ `InvalidArgument`)
 *   for a vector of the wrong dimension.
 */
export function createExactVectorIndex(options: ExactVectorIndexOptions): VectorIndex {
  const dim = options.dimension;
  let capacity = Math.max(1, options.initialCapacity ?? 1024);
  let data = new Float32Array(capacity * dim);
  const slotOf = new Map<string, number>();
  const idOf: string[] = [];

  const checkDim = (v: Float32Array, what: string) => {
    if (v.length !== dim) throw new InvalidInputError(`${what} has dimension ${v.length} (expected ${dim})`);
  };

  const dot = (q: Float32Array, slot: number): number => {
    let s = 0;
    const base = slot * dim;
    for (let j = 0; j < dim; j++) s += q[j]! * data[base + j]!;
    return s;
  };

  return {
    dimension: dim,
    upsert(id, vector) {
      checkDim(vector, "vector");
      let slot = slotOf.get(id);
      if (slot === undefined) {
        slot = idOf.length;
        if (slot >= capacity) {
          capacity *= 2;
          const grown = new Float32Array(capacity * dim);
          grown.set(data);
          data = grown;
        }
        idOf.push(id);
        slotOf.set(id, slot);
      }
      data.set(vector, slot * dim);
    },
    remove(id) {
      const slot = slotOf.get(id);
      if (slot === undefined) return;
      const last = idOf.length - 1;
      if (slot !== last) {
        const lastId = idOf[last]!;
        data.copyWithin(slot * dim, last * dim, (last + 1) * dim);
        idOf[slot] = lastId;
        slotOf.set(lastId, slot);
      }
      idOf.pop();
      slotOf.delete(id);
    },
    search(query, k, allow) {
      checkDim(query, "query vector");
      if (k <= 0 || idOf.length === 0) return [];
      const top = new TopK(Math.min(k, idOf.length));
      if (allow) {
        for (const id of allow) {
          const slot = slotOf.get(id);
          if (slot === undefined) continue;
          const s = dot(query, slot);
          if (s > top.floor) top.push(s, slot);
        }
      } else {
        for (let slot = 0; slot < idOf.length; slot++) {
          const s = dot(query, slot);
          if (s > top.floor) top.push(s, slot);
        }
      }
      return top.sorted().map(({ score, slot }): VectorHit => ({ id: idOf[slot]!, score }));
    },
    size: () => idOf.length,
  };
}
