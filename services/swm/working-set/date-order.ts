/**
 * An in-memory `updated_at` index for the in-process working set: records kept sorted by
 * (`updated_at`, id) ascending, so "newest first" pages, cursors and `updated_at` ranges are
 * answered by binary search and a walk from the newest end (the in-process counterpart of the
 * Redis `swm_idx:date:updated_at` sorted set, docs/redis-layout.md). New writes carry the newest time, so
 * inserts append; removals cost one binary search and a splice.
 * @module
 */
import type { UpdatedCursor } from "../../common/kem-record.ts";
import { isAfter, newestFirst } from "./query-plan.ts";

interface Positioned {
  updatedAtUs: number;
  id: string;
}

/** Records sorted by (`updated_at`, id) ascending. */
export class DateOrder<T extends Positioned> {
  private readonly items: T[] = [];

  /** Number of records. */
  get size(): number {
    return this.items.length;
  }

  /** Index of the first item not older than `p` (lower bound). */
  private lowerBound(p: Positioned): number {
    let lo = 0;
    let hi = this.items.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (newestFirst(this.items[mid]!, p) > 0)
        lo = mid + 1; // items[mid] is older than p
      else hi = mid;
    }
    return lo;
  }

  /** Adds a record (at its position by `updated_at`, then id). */
  add(r: T): void {
    const last = this.items[this.items.length - 1];
    if (!last || newestFirst(r, last) < 0) this.items.push(r);
    else this.items.splice(this.lowerBound(r), 0, r);
  }

  /** Removes the record with this position, if present. */
  remove(r: Positioned): void {
    const i = this.lowerBound(r);
    const hit = this.items[i];
    if (hit && hit.id === r.id && hit.updatedAtUs === r.updatedAtUs) this.items.splice(i, 1);
  }

  /**
   * Records newest first, strictly after `after`, with `updated_at` inside [fromUs, toUs].
   * @param after - keyset cursor.
   * @param fromUs - inclusive lower bound on `updated_at`.
   * @param toUs - inclusive upper bound on `updated_at`.
   */
  *newestFirst(after: UpdatedCursor | undefined, fromUs = -Infinity, toUs = Infinity): IterableIterator<T> {
    let i = this.items.length - 1;
    if (after) i = Math.min(i, this.lowerBound(after) - 1);
    if (toUs !== Infinity) i = Math.min(i, this.lowerBound({ updatedAtUs: toUs, id: "\u{10ffff}" }) - 1);
    for (; i >= 0; i--) {
      const r = this.items[i]!;
      if (r.updatedAtUs < fromUs) return;
      if (isAfter(r, after)) yield r;
    }
  }
}
