/**
 * Clustered, L2-normalized test vectors (like real embeddings, which form topical clusters),
 * generated deterministically from a seed.
 * @module
 */

/** Mulberry32 PRNG returning floats in [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Approximately standard normal sample (sum of uniforms). */
function gauss(rand: () => number): number {
  return rand() + rand() + rand() + rand() - 2;
}

/**
 * Generates `n` vectors of `dim` around `clusters` random centres.
 * @param spread - noise relative to the centre scale (0.35 gives tight but overlapping clusters).
 * @returns one contiguous Float32Array of n·dim floats, rows normalized.
 */
export function clusteredVectors(
  n: number,
  dim: number,
  opts: { clusters?: number; spread?: number; seed?: number } = {},
): Float32Array {
  const rand = prng(opts.seed ?? 1);
  const clusters = opts.clusters ?? Math.max(10, Math.round(Math.sqrt(n)));
  const spread = opts.spread ?? 0.35;
  const centres = new Float32Array(clusters * dim);
  for (let i = 0; i < centres.length; i++) centres[i] = gauss(rand);
  const out = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    const c = Math.floor(rand() * clusters) * dim;
    let norm = 0;
    for (let j = 0; j < dim; j++) {
      const v = centres[c + j]! + spread * gauss(rand) * 1.7;
      out[i * dim + j] = v;
      norm += v * v;
    }
    const inv = 1 / Math.sqrt(norm);
    for (let j = 0; j < dim; j++) out[i * dim + j]! *= inv;
  }
  return out;
}
