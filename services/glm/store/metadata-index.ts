/**
 * How GLM indexes metadata for equality filters (docs/search.md "Indexed filters"): every
 * top-level scalar value (string, number, boolean) of every KEM becomes one index entry
 * `(key, value)`, whatever the key; nested objects, arrays and nulls are not filterable and not
 * indexed. Filter semantics are JSON equality of the same type: `1` matches `1` and `1.0`, never
 * `"1"` or `true`.
 *
 * In SQLite the value column has no type affinity, so storage classes keep types apart: strings
 * are TEXT, numbers INTEGER/REAL (which compare equal when numerically equal), booleans a one-byte
 * BLOB (`x'00'`/`x'01'`), which equals no TEXT or number.
 * @module
 */
import type { JsonObject } from "@bufbuild/protobuf";

/** A metadata value as stored in the index column. */
export type IndexedValue = string | number | Uint8Array;

const FALSE_BLOB = new Uint8Array([0]);
const TRUE_BLOB = new Uint8Array([1]);

/**
 * The index representation of a filterable scalar.
 * @param value - a string, finite number or boolean.
 */
export function indexedValueOf(value: string | number | boolean): IndexedValue {
  if (typeof value === "boolean") return value ? TRUE_BLOB : FALSE_BLOB;
  return value;
}

/**
 * Index entries of a metadata object: `[key, value]` for each top-level string, finite number or
 * boolean. Order follows the object's keys.
 */
export function indexedEntriesOf(metadata: JsonObject): [string, IndexedValue][] {
  const out: [string, IndexedValue][] = [];
  for (const key in metadata) {
    const v = metadata[key];
    if (typeof v === "string" || typeof v === "boolean" || (typeof v === "number" && Number.isFinite(v))) {
      out.push([key, indexedValueOf(v)]);
    }
  }
  return out;
}

/**
 * A search token for one `(key, value)` pair, indexed in the lexical index's `tags` column so a
 * text query restricted by metadata equalities is answered by FTS5 itself (posting-list
 * intersection) instead of ranking every match and filtering afterwards. Digits only, so every
 * tokenizer keeps it whole and Porter stemming leaves it unchanged. 64-bit hash: a collision only
 * widens the candidate set, and every lexical hit is checked against the exact filter.
 * @param key - metadata key.
 * @param value - the scalar (typed: `1` and `"1"` give different tokens; `1` and `1.0` the same).
 */
export function metadataTagToken(key: string, value: string | number | boolean): string {
  const typed = typeof value === "string" ? `s${value}` : typeof value === "number" ? `n${value}` : `b${value ? 1 : 0}`;
  return `9${Bun.hash.wyhash(`${key}\u0000${typed}`).toString()}`;
}

/** The `tags` column text of a KEM: one token per indexed metadata entry. */
export function metadataTagsOf(metadata: JsonObject): string {
  const tokens: string[] = [];
  for (const key in metadata) {
    const v = metadata[key];
    if (typeof v === "string" || typeof v === "boolean" || (typeof v === "number" && Number.isFinite(v))) {
      tokens.push(metadataTagToken(key, v));
    }
  }
  return tokens.join(" ");
}
