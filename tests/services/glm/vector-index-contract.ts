/**
 * The shared contract every GLM vector index must pass (docs/architecture.md "Code layout":
 * `vectorIndexContract(make)`), run against the exact, HNSW and (with QDRANT_URL) Qdrant indexes.
 */
import { describe, expect, test } from "bun:test";
import { normalizeVector } from "../../../services/common/kem-mapping.ts";
import type { VectorIndex } from "../../../services/glm/ports.ts";
import { cosine, prng, randomVector } from "../../helpers/vectors.ts";

/** Options of {@link vectorIndexContract}. */
export interface ContractOptions {
  /** True for exact indexes: results must equal brute force exactly. */
  exact: boolean;
  /** Waits until background indexing has caught up (approximate indexes). */
  settle?: (index: VectorIndex) => Promise<void>;
}

const DIM = 32;
const norm = (v: number[]) => normalizeVector(v, DIM, "v");

/** Turns "k12" style ids into the fixed-width form some backends need; identity here. */
const id = (i: number) => `k${String(i).padStart(4, "0")}`;

/**
 * Registers the contract tests for one index implementation.
 * @param name - suite name.
 * @param make - creates an empty index of dimension 32.
 */
export function vectorIndexContract(
  name: string,
  make: (dimension: number) => Promise<VectorIndex>,
  opts: ContractOptions,
): void {
  describe(`vector index contract: ${name}`, () => {
    test("top-k matches brute force, best first, with cosine scores", async () => {
      const rand = prng(7);
      const index = await make(DIM);
      const raw = new Map<string, number[]>();
      for (let i = 0; i < 400; i++) raw.set(id(i), randomVector(DIM, rand));
      await index.upsert([...raw].map(([k, v]) => ({ id: k, vector: norm(v) })));
      await opts.settle?.(index);
      for (let q = 0; q < 10; q++) {
        const qv = randomVector(DIM, rand);
        const expected = [...raw]
          .map(([k, v]) => ({ id: k, s: cosine(qv, v) }))
          .sort((a, b) => b.s - a.s)
          .slice(0, 10);
        const hits = await index.search(norm(qv), 10);
        if (opts.exact) expect(hits.map((h) => h.id)).toEqual(expected.map((e) => e.id));
        else expect(hits.filter((h) => expected.some((e) => e.id === h.id)).length).toBeGreaterThanOrEqual(9);
        for (const h of hits) expect(h.score).toBeCloseTo(cosine(qv, raw.get(h.id)!), 4);
        for (let i = 1; i < hits.length; i++) expect(hits[i]!.score).toBeLessThanOrEqual(hits[i - 1]!.score);
      }
      expect(index.stats().size).toBe(400);
      await index.close();
    });

    test("replace and remove are reflected at once", async () => {
      const rand = prng(3);
      const index = await make(DIM);
      const vs = Array.from({ length: 50 }, () => norm(randomVector(DIM, rand)));
      await index.upsert(vs.map((v, i) => ({ id: id(i), vector: v })));
      await opts.settle?.(index);
      await index.remove([id(0), id(7), "missing"]);
      await index.upsert([{ id: id(3), vector: vs[5]! }]);
      expect(index.stats().size).toBe(48);
      expect((await index.search(vs[0]!, 48)).some((h) => h.id === id(0))).toBe(false);
      expect((await index.search(vs[7]!, 48)).some((h) => h.id === id(7))).toBe(false);
      const top = await index.search(vs[5]!, 2);
      expect(top.map((h) => h.id).sort()).toEqual([id(3), id(5)]);
      expect(top[0]!.score).toBeCloseTo(1, 4);
      const [self] = await index.search(vs[9]!, 1);
      expect(self).toMatchObject({ id: id(9) });
      await index.close();
    });

    test("an allow-set restricts the candidates; unknown ids are ignored", async () => {
      const rand = prng(11);
      const index = await make(DIM);
      await index.upsert(Array.from({ length: 200 }, (_, i) => ({ id: id(i), vector: norm(randomVector(DIM, rand)) })));
      await opts.settle?.(index);
      const allow = new Set([id(5), id(50), id(199), "unknown"]);
      const hits = await index.search(norm(randomVector(DIM, rand)), 10, { allow });
      expect(hits.map((h) => h.id).sort()).toEqual([id(5), id(50), id(199)]);
      await index.close();
    });

    test("row handles: an index given every vector's handle searches within handles as within the same ids", async () => {
      const rand = prng(13);
      const index = await make(DIM);
      if (!index.handlesComplete) {
        // An index that filters natively (Qdrant) takes filters, not handles.
        await index.close();
        return;
      }
      await index.upsert(
        Array.from({ length: 300 }, (_, i) => ({ id: id(i), vector: norm(randomVector(DIM, rand)), handle: 1000 + i })),
      );
      await opts.settle?.(index);
      expect(index.handlesComplete()).toBe(true);
      await index.remove([id(7)]);
      const picked = [3, 7, 40, 41, 150, 299];
      const q = norm(randomVector(DIM, rand));
      const byHandle = await index.search(q, 4, { allowHandles: Int32Array.from(picked, (i) => 1000 + i) });
      const byId = await index.search(q, 4, { allow: new Set(picked.map(id)) });
      expect(byHandle).toEqual(byId);
      expect(byHandle.map((h) => h.id)).not.toContain(id(7));
      await index.upsert([{ id: "no-handle", vector: q }]);
      expect(index.handlesComplete()).toBe(false);
      await index.close();
    });

    test("pages by (score, id) cursor: no duplicates, nothing skipped, ties ordered by id", async () => {
      const rand = prng(5);
      const index = await make(DIM);
      const shared = norm(randomVector(DIM, rand));
      const entries = Array.from({ length: 60 }, (_, i) => ({
        id: id(i),
        vector: i % 10 === 0 ? shared : norm(randomVector(DIM, rand)),
      }));
      await index.upsert(entries);
      await opts.settle?.(index);
      const q = shared;
      const all = await index.search(q, 60);
      expect(all.slice(0, 6).map((h) => h.id)).toEqual([0, 10, 20, 30, 40, 50].map(id)); // ties by id
      const seen: string[] = [];
      let after: { score: number; id: string } | undefined;
      for (let page = 0; page < 12; page++) {
        const hits = await index.search(q, 5, { after, offset: seen.length });
        if (hits.length === 0) break;
        seen.push(...hits.map((h) => h.id));
        after = { score: hits.at(-1)!.score, id: hits.at(-1)!.id };
      }
      expect(new Set(seen).size).toBe(seen.length);
      if (opts.exact) expect(seen).toEqual(all.map((h) => h.id));
      else expect(seen.length).toBeGreaterThanOrEqual(57);
      await index.close();
    });

    test("wrong dimensions are rejected; clear empties the index", async () => {
      const index = await make(DIM);
      await expect(index.upsert([{ id: "a", vector: new Float32Array(DIM + 1) }])).rejects.toThrow(
        /dimension 33 \(expected 32\)/,
      );
      await expect(index.search(new Float32Array(3), 1)).rejects.toThrow(/dimension 3 \(expected 32\)/);
      await index.upsert([{ id: "a", vector: norm(randomVector(DIM, prng(1))) }]);
      await index.clear();
      expect(index.stats().size).toBe(0);
      expect(await index.search(norm(randomVector(DIM, prng(2))), 5)).toEqual([]);
      await index.close();
    });
  });
}
