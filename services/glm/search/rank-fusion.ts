/**
 * Weighted reciprocal rank fusion (Cormack, Clarke & Büttcher, "Reciprocal Rank Fusion
 * outperforms Condorcet and individual Rank Learning Methods", SIGIR 2009): a KEM's fused score is
 * the sum over the ranked lists it appears in of `weight / (k + rank)`, rank starting at 1.
 * DCSM fuses the dense and the lexical list of a hybrid query this way (docs/search.md "Hybrid").
 * @module
 */
import type { VectorHit } from "../ports.ts";
import { sortHits } from "../vector/exact-store.ts";

/** One ranked list to fuse, best first, with its weight. */
export interface RankedList {
  hits: readonly { id: string }[];
  weight: number;
}

/**
 * Fuses ranked lists by weighted RRF.
 * @param lists - the lists, each best first (ids unique within a list).
 * @param k - the RRF constant (60 in the original paper; smaller favours the top ranks).
 * @returns every id of any list with its fused score, best first (score desc, id asc).
 */
export function reciprocalRankFusion(lists: readonly RankedList[], k: number): VectorHit[] {
  const scores = new Map<string, number>();
  for (const { hits, weight } of lists) {
    for (let r = 0; r < hits.length; r++) {
      const id = hits[r]!.id;
      scores.set(id, (scores.get(id) ?? 0) + weight / (k + r + 1));
    }
  }
  const out: VectorHit[] = [];
  for (const [id, score] of scores) out.push({ id, score });
  return sortHits(out);
}
