/**
 * Seeded generators of hostile inputs for the wire fuzz test (tests/e2e/fuzz.test.ts): random
 * bytes, byte-level mutations of valid encodings, protobuf payloads with huge or overlong varints,
 * deeply nested JSON and protobuf `Struct`s, invalid UTF-8 in string fields. Everything draws from
 * one PRNG so a failing seed reproduces exactly.
 */

/** A PRNG returning floats in [0, 1) (see tests/helpers/vectors.ts `prng`). */
export type Rand = () => number;

/** Integer in [0, n). */
export function int(rand: Rand, n: number): number {
  return Math.floor(rand() * n);
}

/** One element of `items`, uniformly. */
export function pick<T>(rand: Rand, items: readonly T[]): T {
  return items[int(rand, items.length)]!;
}

/** `n` random bytes. */
export function randomBytes(rand: Rand, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = int(rand, 256);
  return out;
}

/** Protobuf base-128 varint encoding of a non-negative integer (up to 2^53). */
export function varint(n: number): number[] {
  const out: number[] = [];
  let v = n;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return out;
}

/** Concatenates byte arrays. */
export function concat(...parts: (Uint8Array | number[])[]): Uint8Array {
  const arrays = parts.map((p) => (p instanceof Uint8Array ? p : Uint8Array.from(p)));
  const out = new Uint8Array(arrays.reduce((n, a) => n + a.length, 0));
  let at = 0;
  for (const a of arrays) {
    out.set(a, at);
    at += a.length;
  }
  return out;
}

/** A length-delimited protobuf field (`wire type 2`). */
export function lenField(field: number, payload: Uint8Array | number[]): Uint8Array {
  const p = payload instanceof Uint8Array ? payload : Uint8Array.from(payload);
  return concat(varint((field << 3) | 2), varint(p.length), p);
}

/**
 * Applies 1–4 random byte mutations to a copy of `input`: bit flips, byte overwrites, insertions,
 * deletions, duplicated slices, truncation, and 0xff runs (overlong varints).
 */
export function mutate(rand: Rand, input: Uint8Array): Uint8Array {
  let b = Array.from(input);
  const ops = 1 + int(rand, 4);
  for (let k = 0; k < ops; k++) {
    const at = b.length === 0 ? 0 : int(rand, b.length);
    switch (int(rand, 7)) {
      case 0:
        if (b.length > 0) b[at] = b[at]! ^ (1 << int(rand, 8));
        break;
      case 1:
        if (b.length > 0) b[at] = int(rand, 256);
        break;
      case 2:
        b.splice(at, 0, ...randomBytes(rand, 1 + int(rand, 8)));
        break;
      case 3:
        b.splice(at, 1 + int(rand, 8));
        break;
      case 4:
        b.splice(at, 0, ...b.slice(at, at + 1 + int(rand, 32)));
        break;
      case 5:
        b = b.slice(0, at);
        break;
      default:
        b.splice(at, 0, ...new Array(1 + int(rand, 12)).fill(0xff));
    }
  }
  return Uint8Array.from(b);
}

/**
 * Protobuf payloads that are structurally hostile: a length varint far beyond the message, an
 * 11-byte (overlong) varint, a huge field number, a group start without end, a packed float field
 * whose length is not a multiple of 4, and a string field holding invalid UTF-8.
 */
export function hostileProto(rand: Rand): Uint8Array {
  switch (int(rand, 7)) {
    case 0: // kem { content: <length 2^50, 3 bytes follow> }
      return lenField(1, concat([0x1a], varint(2 ** 50), [1, 2, 3]));
    case 1: // overlong varint as a field value
      return concat([0x08], new Array(11).fill(0xff), [0x01]);
    case 2: // field number 2^29-1, varint value
      return concat(varint(((2 ** 29 - 1) * 8) >>> 0), [0x01]);
    case 3: // start group, never closed
      return concat([0x0b], randomBytes(rand, 8));
    case 4: // kem { embeddings: packed floats, 7 bytes }
      return lenField(1, lenField(5, randomBytes(rand, 7)));
    case 5: // kem { id: invalid UTF-8, content: "x" }
      return lenField(1, concat(lenField(1, [0xc3, 0x28, 0xff, 0xfe]), lenField(3, [0x78])));
    default: // query { text_query: invalid UTF-8 } (RetrieveKEMs / QuerySWM field 1)
      return lenField(1, lenField(8, [0xed, 0xa0, 0x80, 0xc0, 0xaf]));
  }
}

/**
 * A `StoreKEMRequest` (binary) whose `kem.metadata` Struct nests `depth` levels deep
 * (`{"a": {"a": … "x"}}`). Built by size first, then written outside in, in O(depth) time.
 */
export function nestedStructStore(depth: number): Uint8Array {
  // Innermost Value: string_value (field 3) "x".
  const leaf = [0x1a, 0x01, 0x78];
  // Sizes, inside out: entry = key "a" + value; struct = field 1 (entry); value = field 5 (struct).
  const valueSizes: number[] = [leaf.length];
  const structSizes: number[] = [];
  for (let i = 0; i < depth; i++) {
    const v = valueSizes[i]!;
    const entry = 3 + 1 + varint(v).length + v;
    const struct = 1 + varint(entry).length + entry;
    structSizes.push(struct);
    valueSizes.push(1 + varint(struct).length + struct);
  }
  const out: number[] = [];
  // The outermost Struct is kem.metadata (field 4); go from depth-1 down to 0.
  for (let i = depth - 1; i >= 0; i--) {
    const v = valueSizes[i]!;
    const entry = 3 + 1 + varint(v).length + v;
    if (i === depth - 1) out.push(0x22, ...varint(structSizes[i]!));
    out.push(0x0a, ...varint(entry), 0x0a, 0x01, 0x61, 0x12, ...varint(v));
    if (i > 0) out.push(0x2a, ...varint(structSizes[i - 1]!));
  }
  out.push(...leaf);
  const kem = concat(lenField(3, [0x78]), out);
  return lenField(1, kem);
}

/** JSON text nested `depth` levels deep inside a StoreKEM request's metadata, or bare arrays. */
export function deepJson(rand: Rand, depth: number): string {
  if (rand() < 0.5) return "[".repeat(depth) + "]".repeat(depth);
  return `{"kem":{"content":"eA==","metadata":${'{"a":'.repeat(depth)}1${"}".repeat(depth)}}}`;
}

/** JSON requests with invalid UTF-8 bytes inside string values. */
export function invalidUtf8Json(rand: Rand): Uint8Array {
  const bad = pick(rand, [[0xc3, 0x28], [0xff], [0xed, 0xa0, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0xe2, 0x82]]);
  const enc = new TextEncoder();
  const [pre, post] = pick(rand, [
    ['{"kem":{"content":"eA==","id":"', '"}}'],
    ['{"query":{"textQuery":"', '"}}'],
    ['{"kem":{"content":"eA==","metadata":{"', '":1}}}'],
    ['{"kemToPublish":{"content":"eA==","metadata":{"k":"', '"}}}'],
  ] as const);
  return concat(enc.encode(pre), bad, enc.encode(post));
}
