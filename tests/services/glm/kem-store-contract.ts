/**
 * The {@link KemStore} contract: behaviour every GLM store backend must have (SQLite, PostgreSQL),
 * run by each backend's test file against a real file or a real database. This file holds records,
 * filters and updates; `kem-store-index-contract.ts` the lexical index, idempotency keys, change
 * log, restore and data version.
 */
import { describe, expect, test } from "bun:test";
import { NotFoundError } from "../../../services/common/errors.ts";
import type { KemStore } from "../../../services/glm/ports.ts";
import { allPages, type ContractBackend, dec, freshStores, ids, write } from "./kem-store-fixture.ts";
import { kemStoreIndexContract } from "./kem-store-index-contract.ts";

export type { ContractBackend, ContractBacking, ContractStoreOptions } from "./kem-store-fixture.ts";

/** Registers the contract suites for `backend`. */
export function kemStoreContract(backend: ContractBackend): void {
  describe(`KemStore contract: ${backend.name}`, () => {
    const fresh = freshStores(backend);

    test("upsert keeps created_at, advances updated_at, round-trips content, metadata and embeddings", async () => {
      const { store } = await fresh();
      const v = new Float32Array([0.6, 0.8, 0, -0.125]);
      const [first] = await store.upsertMany([
        write("a", { topic: "AI", nested: { x: [1, "two", null] }, n: 1.5, ok: false }, v),
      ]);
      const [second] = await store.upsertMany([{ ...write("a", { topic: "ML" }), embedding: null }]);
      expect(second!.createdAtUs).toBe(first!.createdAtUs);
      expect(second!.updatedAtUs).toBeGreaterThan(first!.updatedAtUs);
      expect(Number.isSafeInteger(first!.createdAtUs)).toBe(true);
      const [got] = await store.getMany(["a"]);
      expect(got!.metadata).toEqual({ topic: "ML" });
      expect(got!.embedding).toBeNull();
      expect(got!.createdAtUs).toBe(first!.createdAtUs);
      expect(got!.updatedAtUs).toBe(second!.updatedAtUs);
      await store.upsertMany([
        write(
          "b",
          { nested: { x: [1, "two", null] }, n: 1.5, ok: false },
          v,
          "binary\u0001",
          "application/octet-stream",
        ),
      ]);
      const [b] = await store.getMany(["b"]);
      expect(b!.metadata).toEqual({ nested: { x: [1, "two", null] }, n: 1.5, ok: false });
      expect(Array.from(b!.embedding!)).toEqual(Array.from(v));
      expect(dec.decode(b!.content)).toBe("binary\u0001");
      expect(b!.contentType).toBe("application/octet-stream");
      expect(await store.count()).toBe(2);
      expect(ids(await store.getMany(["b", "nope", "a"]))).toEqual(["b", "a"]);
      const seen: string[] = [];
      await store.forEachEmbedding((id, e) => {
        seen.push(id);
        expect(Array.from(e)).toEqual(Array.from(v));
      });
      expect(seen).toEqual(["b"]);
    });

    test("a batch repeating an id applies both writes in order", async () => {
      const { store } = await fresh();
      const out = await store.upsertMany([write("d", { v: 1 }), write("e"), write("d", { v: 2 })]);
      expect(out.map((r) => r.metadata)).toEqual([{ v: 1 }, {}, { v: 2 }]);
      expect(out[2]!.createdAtUs).toBe(out[0]!.createdAtUs);
      expect(out[2]!.updatedAtUs).toBeGreaterThan(out[0]!.updatedAtUs);
      expect((await store.getMany(["d"]))[0]!.metadata).toEqual({ v: 2 });
      expect(ids(await store.find({ metadata: { v: 1 } }, 10))).toEqual([]);
      expect(ids(await store.find({ metadata: { v: 2 } }, 10))).toEqual(["d"]);
    });

    test("metadata equality is typed: strings, numbers (1 == 1.0), booleans, never across types", async () => {
      const { store } = await fresh();
      await store.upsertMany([
        write("s1", { kind: "doc", n: 1, ok: true }),
        write("s2", { kind: "doc", n: 2, ok: false }),
        write("s3", { kind: "code", n: 1.0, ok: true }),
        write("s4", { kind: "1", n: "1", ok: "true" }),
        write("s5", { kind: ["doc"], n: { v: 1 }, ok: null }),
      ]);
      expect(ids(await store.find({ metadata: { kind: "doc" } }, 10))).toEqual(["s2", "s1"]);
      expect(ids(await store.find({ metadata: { n: 1 } }, 10))).toEqual(["s3", "s1"]);
      expect(ids(await store.find({ metadata: { n: 1.0 } }, 10))).toEqual(["s3", "s1"]);
      expect(ids(await store.find({ metadata: { n: "1" } }, 10))).toEqual(["s4"]);
      expect(ids(await store.find({ metadata: { ok: true } }, 10))).toEqual(["s3", "s1"]);
      expect(ids(await store.find({ metadata: { ok: false } }, 10))).toEqual(["s2"]);
      expect(ids(await store.find({ metadata: { ok: "true" } }, 10))).toEqual(["s4"]);
      expect(ids(await store.find({ metadata: { kind: 1 } }, 10))).toEqual([]);
      expect(ids(await store.find({ metadata: { kind: "doc", n: 2 } }, 10))).toEqual(["s2"]);
      expect(ids(await store.find({ metadata: { kind: "doc", n: 3 } }, 10))).toEqual([]);
      expect(ids(await store.find({ metadata: { absent: "x" } }, 10))).toEqual([]);
      expect((await store.findIds({ metadata: { kind: "doc" } })).sort()).toEqual(["s1", "s2"]);
      expect(await store.estimateMatches({ metadata: { kind: "doc" } })).toBe(2);
      expect(await store.estimateMatches({ metadata: { kind: "nope" } })).toBe(0);
      expect([...(await store.matchingIds(["s1", "s2", "s3", "zz"], { metadata: { ok: true } }))].sort()).toEqual([
        "s1",
        "s3",
      ]);
      // Updates move a KEM between filter results.
      await store.update("s1", { metadata: { kind: "code" } });
      expect(ids(await store.find({ metadata: { kind: "doc" } }, 10))).toEqual(["s2"]);
      expect(ids(await store.find({ metadata: { kind: "code" } }, 10))).toEqual(["s1", "s3"]);
      await store.delete("s3");
      expect(ids(await store.find({ metadata: { kind: "code" } }, 10))).toEqual(["s1"]);
    });

    test("ids, created/updated ranges and their mixes with metadata, with keyset pages under every filter", async () => {
      const { store } = await fresh();
      const items = Array.from({ length: 40 }, (_, i) =>
        write(`k${String(i).padStart(2, "0")}`, { parity: i % 2 ? "odd" : "even", tri: i % 3 }),
      );
      for (let i = 0; i < items.length; i += 10) await store.upsertMany(items.slice(i, i + 10));
      // Touch a few so updated order differs from created order.
      await store.update("k03", { metadata: { touched: true } });
      await store.update("k10", { metadata: { touched: true } });
      const all = await store.find({}, 1000);
      expect(all.length).toBe(40);
      for (let i = 1; i < all.length; i++) {
        const a = all[i - 1]!;
        const b = all[i]!;
        expect(a.updatedAtUs > b.updatedAtUs || (a.updatedAtUs === b.updatedAtUs && a.id > b.id)).toBe(true);
      }
      expect(ids(all.slice(0, 2))).toEqual(["k10", "k03"]);
      const byCreated = [...all].sort((a, b) => a.createdAtUs - b.createdAtUs);
      const mid = byCreated[20]!;
      const upd = all[15]!;
      const filters: Parameters<KemStore["find"]>[0][] = [
        {},
        { ids: ["k01", "k02", "k03", "k10", "k39", "missing"] },
        { metadata: { parity: "odd" } },
        { metadata: { parity: "odd", tri: 0 } },
        { createdFromUs: mid.createdAtUs },
        { createdToUs: mid.createdAtUs },
        { updatedFromUs: upd.updatedAtUs },
        { updatedToUs: upd.updatedAtUs, updatedFromUs: all[30]!.updatedAtUs },
        { metadata: { parity: "even" }, createdFromUs: mid.createdAtUs },
        { metadata: { tri: 1 }, updatedToUs: upd.updatedAtUs },
        { ids: ["k01", "k02", "k03", "k04"], metadata: { parity: "odd" } },
        { metadata: { touched: true }, createdToUs: mid.createdAtUs },
      ];
      for (const f of filters) {
        const want = all.filter(
          (r) =>
            (!f.ids || f.ids.includes(r.id)) &&
            Object.entries(f.metadata ?? {}).every(([k, v]) => r.metadata[k] === v) &&
            (f.createdFromUs === undefined || r.createdAtUs >= f.createdFromUs) &&
            (f.createdToUs === undefined || r.createdAtUs <= f.createdToUs) &&
            (f.updatedFromUs === undefined || r.updatedAtUs >= f.updatedFromUs) &&
            (f.updatedToUs === undefined || r.updatedAtUs <= f.updatedToUs),
        );
        expect(want.length).toBeGreaterThan(0);
        expect(ids(await store.find(f, 1000))).toEqual(ids(want));
        expect(ids(await allPages(store, f, 3))).toEqual(ids(want));
        expect((await store.findIds(f)).sort()).toEqual(ids(want).sort());
        expect((await store.findIds(f, 2)).length).toBe(Math.min(2, want.length));
        expect(await store.estimateMatches(f)).toBeGreaterThanOrEqual(Math.min(want.length, 1));
        expect([...(await store.matchingIds(ids(all), f))].sort()).toEqual(ids(want).sort());
      }
    });

    test("update merges or replaces metadata, keeps created_at, raises NotFound, and a failing validate changes nothing", async () => {
      const { store } = await fresh();
      const [orig] = await store.upsertMany([write("u", { a: 1, b: "x" })]);
      const merged = await store.update("u", { metadata: { b: null, c: true } });
      expect(merged.metadata).toEqual({ a: 1, c: true });
      expect(merged.createdAtUs).toBe(orig!.createdAtUs);
      expect(merged.updatedAtUs).toBeGreaterThan(orig!.updatedAtUs);
      expect((await store.update("u", { metadata: { z: 1 }, replaceMetadata: true })).metadata).toEqual({ z: 1 });
      expect(ids(await store.find({ metadata: { a: 1 } }, 10))).toEqual([]);
      expect(ids(await store.find({ metadata: { z: 1 } }, 10))).toEqual(["u"]);
      await expect(store.update("nope", { contentType: "text/plain" })).rejects.toThrow(NotFoundError);
      const seq = await store.latestChangeSeq();
      await expect(
        store.update("u", {
          metadata: { z: 2 },
          validate: () => {
            throw new Error("rejected");
          },
        }),
      ).rejects.toThrow("rejected");
      expect((await store.getMany(["u"]))[0]!.metadata).toEqual({ z: 1 });
      expect(await store.latestChangeSeq()).toBe(seq);
      const withVec = await store.update("u", { embedding: new Float32Array([1, 0]) });
      expect(Array.from((await store.getMany(["u"]))[0]!.embedding!)).toEqual([1, 0]);
      expect(withVec.embedding).not.toBeNull();
    });
  });
  kemStoreIndexContract(backend);
}
