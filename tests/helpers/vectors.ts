/** Deterministic vectors for tests (seeded PRNG), so failures reproduce, and KEM records carrying them. */
import { normalizeVector } from "../../services/common/kem-mapping.ts";

/** Mulberry32 PRNG (the bench suite's generator): returns a function giving floats in [0, 1). */
export { prng } from "../../bench/lib/clustered-vectors.ts";

/** A random vector with components in [-1, 1). */
export function randomVector(dim: number, rand: () => number): number[] {
  return Array.from({ length: dim }, () => rand() * 2 - 1);
}

/** `count` random unit vectors (L2-normalized, as GLM stores them) of `dim` components, drawn from `rand`. */
export function unitVectors(count: number, dim: number, rand: () => number): Float32Array[] {
  return Array.from({ length: count }, () => normalizeVector(randomVector(dim, rand), dim, "v"));
}

const enc = new TextEncoder();

/**
 * Numbered plain-text KEM records for `vecs`: record `i` is `s<i>` with text `c<i>`, no metadata
 * and the embedding `vecs[i]`, or `v` when given (to overwrite a record with another vector).
 */
export function numberedKems(vecs: readonly Float32Array[]) {
  return (i: number, v = vecs[i]!) => ({
    id: `s${i}`,
    contentType: "text/plain",
    content: enc.encode(`c${i}`),
    metadata: {},
    embedding: v,
  });
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
