/**
 * int8 codes of float32 vectors for the exact store's native allow-list scan (`exact-store.ts`;
 * docs/search.md "Filtered dense search").
 * @module
 */

/**
 * Writes the int8 code of `v` at `out[offset…]`: each component scaled by 127 / max |component|
 * and rounded (cosine is scale-free, so each vector keeps its full int8 range).
 */
export function quantize(v: Float32Array, out: Int8Array, offset: number): void {
  let max = 0;
  for (let j = 0; j < v.length; j++) max = Math.max(max, Math.abs(v[j]!));
  const scale = max > 0 ? 127 / max : 0;
  for (let j = 0; j < v.length; j++) out[offset + j] = Math.round(v[j]! * scale);
}

/** Copies the codes of the first `n` slots into `out`, 4 bytes at a time where the rows allow it. */
export function gatherCodes(codes: Int8Array, slots: Int32Array, n: number, dim: number, out: Int8Array): void {
  if (dim % 4 === 0 && codes.byteOffset === 0 && out.byteOffset === 0) {
    const src = new Int32Array(codes.buffer, 0, codes.length >> 2);
    const dst = new Int32Array(out.buffer, 0, out.length >> 2);
    const w = dim >> 2;
    for (let i = 0; i < n; i++) {
      const s = slots[i]! * w;
      const d = i * w;
      for (let j = 0; j < w; j++) dst[d + j] = src[s + j]!;
    }
    return;
  }
  for (let i = 0; i < n; i++) out.set(codes.subarray(slots[i]! * dim, (slots[i]! + 1) * dim), i * dim);
}
