/** Deterministic vectors for tests (seeded PRNG), so failures reproduce. */

/** Mulberry32 PRNG (the bench suite's generator): returns a function giving floats in [0, 1). */
export { prng } from "../../bench/lib/clustered-vectors.ts";

/** A random vector with components in [-1, 1). */
export function randomVector(dim: number, rand: () => number): number[] {
  return Array.from({ length: dim }, () => rand() * 2 - 1);
}

/** Cosine similarity of two vectors. */
export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0,
    na = 0,
    nb = 0;
  for (let i = 0; i < a.length; i++) {
    d += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return d / Math.sqrt(na * nb);
}
