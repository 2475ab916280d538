/** LocalAgentMemory (LPA): LRU bound, index-backed queries, stale writes refused, retry classification. */

import { expect, test } from "bun:test";
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  isIdempotent,
  isRetryable,
  type KEM,
  KEMSchema,
  LocalAgentMemory,
  normalizeNetworkError,
} from "../../sdk/index.ts";

const kem = (id: string, ms: number, metadata: Record<string, string | number> = {}): KEM =>
  create(KEMSchema, { id, content: new TextEncoder().encode(id), metadata, updatedAt: timestampFromMs(ms) });

test("LRU bound, recency on get, and index-backed metadata queries", () => {
  const lpa = new LocalAgentMemory({ maxEntries: 3, indexedKeys: ["topic"] });
  lpa.put(kem("a", 1, { topic: "x", n: 1 }));
  lpa.put(kem("b", 2, { topic: "x", n: 2 }));
  lpa.put(kem("c", 3, { topic: "y" }));
  lpa.get("a"); // a is now most recent; b is the least recently used
  lpa.put(kem("d", 4, { topic: "x" }));
  expect(lpa.ids().sort()).toEqual(["a", "c", "d"]);
  expect(lpa.query({ metadataFilters: { topic: "x" } }).map((k) => k.id)).toEqual(["d", "a"]); // newest first
  expect(lpa.query({ metadataFilters: { topic: "x", n: 1 } }).map((k) => k.id)).toEqual(["a"]); // indexed + scanned filter
  expect(lpa.query({ ids: ["c", "zz", "a"] }).map((k) => k.id)).toEqual(["c", "a"]);
  expect(lpa.query({ ids: ["a", "d"], metadataFilters: { topic: "x" }, limit: 1 }).map((k) => k.id)).toEqual(["d"]);
  expect(() => new LocalAgentMemory({ maxEntries: 0 })).toThrow(RangeError);
});

test("a write never replaces a newer cached version; replacing re-indexes", () => {
  const lpa = new LocalAgentMemory({ indexedKeys: ["topic"] });
  expect(lpa.put(kem("k", 2000, { topic: "new" }))).toBe(true);
  expect(lpa.put(kem("k", 1000, { topic: "old" }))).toBe(false);
  expect(lpa.peek("k")!.metadata).toEqual({ topic: "new" });
  expect(lpa.put(kem("k", 3000, { topic: "newer" }))).toBe(true);
  expect(lpa.query({ metadataFilters: { topic: "new" } })).toEqual([]);
  expect(lpa.query({ metadataFilters: { topic: "newer" } }).length).toBe(1);
  expect(() => lpa.put(kem("", 1))).toThrow(TypeError);
});

test("retry classification: which calls and which errors", () => {
  expect(isIdempotent("RetrieveKEMs", {})).toBe(true);
  expect(isIdempotent("IncrementCounter", {})).toBe(false);
  expect(isIdempotent("AcquireLock", {})).toBe(false);
  expect(isIdempotent("PublishKEMToSWM", { kemToPublish: { id: "" } })).toBe(false);
  expect(isIdempotent("PublishKEMToSWM", { kemToPublish: { id: "k" } })).toBe(true);
  expect(isIdempotent("BatchStoreKEMs", { idempotencyKeys: ["a", ""] })).toBe(false);
  expect(isIdempotent("BatchStoreKEMs", { idempotencyKeys: ["a", "b"] })).toBe(true);
  expect(isRetryable(new ConnectError("x", Code.Unavailable))).toBe(true);
  expect(isRetryable(new ConnectError("x", Code.InvalidArgument))).toBe(false);
  expect(normalizeNetworkError(new TypeError("Failed to fetch")).code).toBe(Code.Unavailable);
  expect(normalizeNetworkError(new Error("other")).code).toBe(Code.Unknown);
});
