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
    // Unfiltered, the native scan runs over every vector in place.
    for (const query of [dup, unit(randomVector(DIM, rand))]) {
      const everything = store.search(query, 40, undefined, { score: Number.POSITIVE_INFINITY, id: "" });
      expect(store.search(query, 40)).toEqual(everything);
    }
    expect(store.search(dup, 3).map((h) => h.id)).toEqual(["dup-a", "dup-b", "dup-c"]);
  });

  test("a query that is a view into a larger buffer (one row of a batch of embeddings) finds its own neighbours", () => {
    const rand = prng(11);
    const store = new ExactVectorStore(DIM);
    const n = 2 * NATIVE_ALLOW_MIN;
    for (let i = 0; i < n; i++) store.set(`v${i}`, unit(randomVector(DIM, rand)), i);
    const batch = new Float32Array(4 * DIM);
    for (let r = 0; r < 4; r++) batch.set(unit(randomVector(DIM, rand)), r * DIM);
    const allIds = new Set(Array.from({ length: n }, (_, i) => `v${i}`));
    const allHandles = Int32Array.from({ length: n }, (_, i) => i);
    for (let r = 1; r < 4; r++) {
      const view = batch.subarray(r * DIM, (r + 1) * DIM);
      const brute = [...allIds]
        .map((id) => ({ id, score: Math.fround(store.score(view, id)!) }))
        .sort((a, b) => b.score - a.score || (a.id < b.id ? -1 : 1))
        .slice(0, 10);
      expect(store.search(view, 10)).toEqual(brute); // unfiltered native scan
      expect(store.search(view, 10, allIds)).toEqual(brute); // allow-list (int8 ranking)
      expect(store.searchHandles(view, 10, allHandles)).toEqual(brute); // row handles
    }
  });
});

describe("exact store: int8-ranked native scan at 384 dimensions", () => {
  test("re-scored candidates give the float32 scan's top 10 and top 100 on near-uniform vectors", () => {
    // Random directions in 384-d: every score is near 0 and gaps are tiny, the hardest case for a
    // coarse ranking.
    const DIM = 384;
    const rand = prng(21);
    const store = new ExactVectorStore(DIM, 1024);
    const unit = (v: number[]) => {
      const n = Math.hypot(...v);
      return Float32Array.from(v, (x) => x / n);
    };
    const n = 6000;
    for (let i = 0; i < n; i++) store.set(`v${i}`, unit(randomVector(DIM, rand)), i);
    const handles = Int32Array.from({ length: n }, (_, i) => i);
    for (let q = 0; q < 5; q++) {
      const query = unit(randomVector(DIM, rand));
      for (const k of [10, 100]) {
        const native = store.searchHandles(query, k, handles);
        const js = store.searchHandles(query, k, handles, { score: Number.POSITIVE_INFINITY, id: "" });
        expect(native).toEqual(js);
      }
    }
  });
});

describe("exact store: row handles", () => {
  const DIM = 8;
  const unit = (seed: number) => {
    const v = randomVector(DIM, prng(seed));
    const n = Math.hypot(...v);
    return Float32Array.from(v, (x) => x / n);
  };

  test("searching by handles gives the hits of searching by the same ids, through deletes and moves", () => {
    const store = new ExactVectorStore(DIM, 2);
    for (let i = 0; i < 40; i++) store.set(`k${i}`, unit(i), 100 + i);
    expect(store.handlesComplete).toBe(true);
    store.delete("k3"); // the last vector moves into slot 3
    store.delete("k39");
    store.set("k5", unit(500), 100 + 5); // a new vector, same handle
    const pick = [0, 3, 5, 7, 20, 38, 39].map((i) => 100 + i);
    const ids = new Set(["k0", "k5", "k7", "k20", "k38"]);
    const q = unit(999);
    expect(store.searchHandles(q, 4, Int32Array.from(pick))).toEqual(store.search(q, 4, ids));
    expect(store.searchHandles(q, 10, Int32Array.from([7, 100_000, -1, 120]))).toEqual(
      store.search(q, 10, new Set(["k20"])),
    );
    expect(store.idsOfHandles([100, 103, 138])).toEqual(["k0", "k38"]);
  });

  test("a reused handle moves to its new id; a vector without a handle makes the set incomplete", () => {
    const store = new ExactVectorStore(DIM, 2);
    store.set("old", unit(1), 7);
    store.set("new", unit(2), 7); // "old"'s row was deleted elsewhere and its handle reused
    expect(store.idsOfHandles([7])).toEqual(["new"]);
    expect(store.handlesComplete).toBe(false);
    store.delete("old");
    expect(store.handlesComplete).toBe(true);
    expect(store.idsOfHandles([7])).toEqual(["new"]);
    store.set("bare", unit(3));
    expect(store.handlesComplete).toBe(false);
    store.set("bare", unit(3), 8);
    expect(store.handlesComplete).toBe(true);
    expect(store.searchHandles(unit(3), 1, Int32Array.from([7, 8]))[0]!.id).toBe("bare");
  });
});
