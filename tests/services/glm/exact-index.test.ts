import { describe, expect, test } from "bun:test";
import { createExactVectorIndex } from "../../../services/glm/vector/exact-index.ts";
import { normalizeVector } from "../../../services/shared/kem-mapping.ts";
import { cosine, prng, randomVector } from "../../helpers/vectors.ts";

const DIM = 32;

describe("exact vector index", () => {
  test("returns the same top-k as a brute-force sort, best first", () => {
    const rand = prng(7);
    const index = createExactVectorIndex({ dimension: DIM, initialCapacity: 4 });
    const raw = new Map<string, number[]>();
    for (let i = 0; i < 500; i++) {
      const v = randomVector(DIM, rand);
      raw.set(`k${i}`, v);
      index.upsert(`k${i}`, normalizeVector(v, DIM, "v"));
    }
    const q = randomVector(DIM, rand);
    const expected = [...raw.entries()].map(([id, v]) => ({ id, s: cosine(q, v) })).sort((a, b) => b.s - a.s).slice(0, 10);
    const hits = index.search(normalizeVector(q, DIM, "q"), 10);
    expect(hits.map((h) => h.id)).toEqual(expected.map((e) => e.id));
    hits.forEach((h, i) => expect(h.score).toBeCloseTo(expected[i]!.s, 5));
  });

  test("remove and replace keep ids and vectors consistent", () => {
    const rand = prng(3);
    const index = createExactVectorIndex({ dimension: DIM, initialCapacity: 2 });
    const vs = Array.from({ length: 20 }, () => normalizeVector(randomVector(DIM, rand), DIM, "v"));
    vs.forEach((v, i) => index.upsert(`k${i}`, v));
    index.remove("k0");
    index.remove("k7");
    index.remove("missing");
    expect(index.size()).toBe(18);
    // Every remaining vector is its own nearest neighbour with score 1.
    for (let i = 1; i < 20; i++) {
      if (i === 7) continue;
      const [top] = index.search(vs[i]!, 1);
      expect(top!.id).toBe(`k${i}`);
      expect(top!.score).toBeCloseTo(1, 5);
    }
    // Replacing a vector moves it.
    index.upsert("k3", vs[5]!);
    expect(index.search(vs[3]!, 20).some((h) => h.id === "k3" && h.score > 0.999)).toBe(false);
    expect(index.size()).toBe(18);
  });

  test("an allow-set restricts the candidates", () => {
    const rand = prng(11);
    const index = createExactVectorIndex({ dimension: DIM });
    for (let i = 0; i < 100; i++) index.upsert(`k${i}`, normalizeVector(randomVector(DIM, rand), DIM, "v"));
    const allow = new Set(["k5", "k50", "k99", "unknown"]);
    const hits = index.search(normalizeVector(randomVector(DIM, rand), DIM, "q"), 10, allow);
    expect(hits.map((h) => h.id).sort()).toEqual(["k5", "k50", "k99"]);
  });

  test("rejects vectors of the wrong dimension", () => {
    const index = createExactVectorIndex({ dimension: DIM });
    expect(() => index.upsert("a", new Float32Array(DIM + 1))).toThrow(/dimension 33 \(expected 32\)/);
    expect(() => index.search(new Float32Array(3), 1)).toThrow(/dimension 3 \(expected 32\)/);
  });
});
