/**
 * A bounded top-k of (score, slot) pairs for the exact vector scan (`exact-store.ts`).
 * @module
 */

/**
 * Keeps the k best (score, slot) pairs seen: a bounded min-heap in two typed arrays. Order is by
 * score, then by the slot's id (smaller id ranks first), so ties are deterministic.
 */
export class TopK {
  readonly scores: Float32Array;
  readonly slots: Int32Array;
  size = 0;
  /**
   * @param k - how many to keep.
   * @param idOf - id of a slot, used to break score ties.
   */
  constructor(
    readonly k: number,
    private readonly idOf: (slot: number) => string,
  ) {
    this.scores = new Float32Array(Math.max(1, k));
    this.slots = new Int32Array(Math.max(1, k));
  }
  /** True when (sa, a) ranks below (sb, b). */
  private worse(sa: number, a: number, sb: number, b: number): boolean {
    return sa < sb || (sa === sb && this.idOf(a) > this.idOf(b));
  }
  /** True when a candidate could enter: not full, or better than the worst kept. */
  accepts(score: number, slot: number): boolean {
    return this.size < this.k || this.worse(this.scores[0]!, this.slots[0]!, score, slot);
  }
  /** Offers a candidate (call only when {@link accepts} is true). */
  push(score: number, slot: number): void {
    const { scores, slots } = this;
    if (this.size < this.k) {
      let i = this.size++;
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (!this.worse(score, slot, scores[p]!, slots[p]!)) break;
        scores[i] = scores[p]!;
        slots[i] = slots[p]!;
        i = p;
      }
      scores[i] = score;
      slots[i] = slot;
      return;
    }
    let i = 0;
    const n = this.size;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && this.worse(scores[r]!, slots[r]!, scores[l]!, slots[l]!) ? r : l;
      if (!this.worse(scores[c]!, slots[c]!, score, slot)) break;
      scores[i] = scores[c]!;
      slots[i] = slots[c]!;
      i = c;
    }
    scores[i] = score;
    slots[i] = slot;
  }
  /** Entries, best first. */
  sorted(): { score: number; slot: number }[] {
    const out: { score: number; slot: number }[] = [];
    for (let i = 0; i < this.size; i++) out.push({ score: this.scores[i]!, slot: this.slots[i]! });
    return out.sort((a, b) =>
      this.worse(a.score, a.slot, b.score, b.slot) ? 1 : this.worse(b.score, b.slot, a.score, a.slot) ? -1 : 0,
    );
  }
}
