import { describe, expect, test } from "bun:test";
import { createExactVectorIndex } from "../../../services/glm/vector/exact-index.ts";
import { ExactVectorStore, NATIVE_ALLOW_MIN } from "../../../services/glm/vector/exact-store.ts";
import { prng, randomVector } from "../../helpers/vectors.ts";
import { vectorIndexContract } from "./vector-index-contract.ts";

vectorIndexContract("exact", async (dimension) => createExactVectorIndex({ dimension, initialCapacity: 4 }), {
  exact: true,
});

describe("exact store: large allow-lists (native scan)", () => {
  const DIM = 48;
  const unit = (v: number[]) => {
    const n = Math.hypot(...v);
    return Float32Array.from(v, (x) => x / n);
  };

  test("give exactly the JS scan's hits, scores and tie order", () => {
    const rand = prng(7);
    const store = new ExactVectorStore(DIM, 16);
    const n = 3 * NATIVE_ALLOW_MIN;
    for (let i = 0; i < n; i++) store.set(`v${String(i).padStart(5, "0")}`, unit(randomVector(DIM, rand)));
    // Duplicates: the same vector under several ids must come out ordered by id.
    const dup = unit(randomVector(DIM, rand));
    for (const id of ["dup-c", "dup-a", "dup-b"]) store.set(id, dup);
    const allow = new Set<string>(["dup-c", "dup-a", "dup-b"]);
    for (let i = 0; i < n; i += 2) allow.add(`v${String(i).padStart(5, "0")}`);
    for (const query of [dup, unit(randomVector(DIM, rand))]) {
      const native = store.search(query, 25, allow);
      // The JS scan: the same search continued from a cursor before every hit.
      const js = store.search(query, 25, allow, { score: Number.POSITIVE_INFINITY, id: "" });
      expect(native).toEqual(js);
      expect(native.length).toBe(25);
      const brute = [...allow]
        .map((id) => ({ id, score: Math.fround(store.score(query, id)!) }))
        .sort((a, b) => b.score - a.score || (a.id < b.id ? -1 : 1));
      expect(native).toEqual(brute.slice(0, 25));
    }
    expect(store.search(dup, 3, allow).map((h) => h.id)).toEqual(["dup-a", "dup-b", "dup-c"]);
  });
});
