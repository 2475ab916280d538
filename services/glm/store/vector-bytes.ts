/**
 * Embeddings as stored: little-endian float32 bytes (SQLite BLOB, PostgreSQL bytea).
 * @module
 */

/** Encodes a float32 vector as little-endian bytes (a view, no copy, on little-endian hosts). */
export function vectorToBlob(v: Float32Array): Uint8Array {
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

/** Decodes float32 bytes (copies, so the result is aligned and owned). */
export function blobToVector(b: Uint8Array): Float32Array {
  const out = new Float32Array(b.byteLength / 4);
  new Uint8Array(out.buffer).set(b);
  return out;
}
