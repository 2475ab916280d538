/**
 * The byte budget of a page of KEMs (docs/storage.md "Response size"): GLM's RetrieveKEMs and
 * SWM's QuerySWM end a page early, with a next page token, before its KEMs would exceed it.
 * @module
 */
import type { KemRecord } from "../common/kem-record.ts";

/**
 * Approximate protobuf size of a KEM in a response, in bytes: content, metadata JSON, embedding
 * and a fixed allowance for id, content type and timestamps.
 */
export function kemWireBytes(r: KemRecord): number {
  return (
    r.content.byteLength +
    JSON.stringify(r.metadata).length +
    (r.embedding ? r.embedding.length * 4 : 0) +
    r.id.length +
    r.contentType.length +
    64
  );
}

/**
 * How many of `records` (at most `max`) fit in `budget` bytes, counting from the first; at least
 * one when there is any, so a single KEM larger than the budget is still returned alone.
 */
export function countWithinBudget(records: readonly KemRecord[], max: number, budget: number): number {
  const n = Math.min(max, records.length);
  let left = budget;
  for (let i = 0; i < n; i++) {
    left -= kemWireBytes(records[i]!);
    if (left < 0) return Math.max(1, i);
  }
  return n;
}
