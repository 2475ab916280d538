/**
 * The {@link KemStore} contract, second part: the lexical index, idempotency keys, the change log,
 * restore and the data version (see `kem-store-contract.ts`, which registers it).
 */
import { describe, expect, test } from "bun:test";
import { type ContractBackend, dec, enc, freshStores, ids, write } from "./kem-store-fixture.ts";

/** Registers the index part of the contract for `backend`. */
export function kemStoreIndexContract(backend: ContractBackend): void {
  describe(`KemStore contract: ${backend.name} (indexes, keys, change log)`, () => {
    const fresh = freshStores(backend);

    test("lexical search: stemming, best first, exact filters, (score, id) pages, index follows writes", async () => {
      const { store } = await fresh();
      await store.upsertMany([
        write("l1", { ns: "a", n: 1 }, null, "The runner was running quickly through the forest of pines."),
        write("l2", { ns: "a", n: 2 }, null, "Forest fires: pines burn; forest rangers run forest patrols."),
        write("l3", { ns: "b", n: 1 }, null, "Database indexes speed up queries over tables."),
        write("l4", { ns: "b", n: 2 }, null, "A forest of B-tree indexes for the database."),
        write("l5", { ns: "a", n: 3 }, null, "forest forest forest", "application/octet-stream"),
        write(
          "l6",
          { ns: "a", n: 4 },
          null,
          "function createSqliteKemStore() { return forestRunner; }",
          "text/x-typescript",
        ),
      ]);
      const forest = await store.lexicalSearch("forest", 10);
      expect(ids(forest).sort()).toEqual(["l1", "l2", "l4", "l6"]);
      expect(forest[0]!.id).toBe("l2"); // three occurrences
      for (let i = 1; i < forest.length; i++) {
        const a = forest[i - 1]!;
        const b = forest[i]!;
        expect(a.score > b.score || (a.score === b.score && a.id < b.id)).toBe(true);
      }
      // Stemming: "runs" finds running / run / runner's stem where the stemmer agrees.
      expect(ids(await store.lexicalSearch("runs", 10))).toContain("l2");
      expect(ids(await store.lexicalSearch("running", 10))).toContain("l1");
      // camelCase parts are indexed.
      expect(ids(await store.lexicalSearch("kem store", 10))).toEqual(["l6"]);
      // Stopwords only / no words / k = 0.
      expect(await store.lexicalSearch("   ", 10)).toEqual([]);
      expect(await store.lexicalSearch("forest", 0)).toEqual([]);
      // Operators in user text are plain words, never syntax.
      expect(ids(await store.lexicalSearch("forest & ! | ( ' \" * NEAR: body:", 10)).sort()).toEqual([
        "l1",
        "l2",
        "l4",
        "l6",
      ]);
      // Filters are exact and typed.
      expect(ids(await store.lexicalSearch("forest", 10, { filter: { metadata: { ns: "a" } } })).sort()).toEqual([
        "l1",
        "l2",
        "l6",
      ]);
      expect(ids(await store.lexicalSearch("forest", 10, { filter: { metadata: { ns: "b", n: 2 } } }))).toEqual(["l4"]);
      expect(ids(await store.lexicalSearch("forest", 10, { filter: { metadata: { n: "2" } } }))).toEqual([]);
      expect(ids(await store.lexicalSearch("forest", 10, { filter: { ids: ["l1", "l3", "l4"] } })).sort()).toEqual([
        "l1",
        "l4",
      ]);
      const l4 = (await store.getMany(["l4"]))[0]!;
      expect(
        ids(await store.lexicalSearch("forest", 10, { filter: { createdFromUs: l4.createdAtUs } })).sort(),
      ).toEqual(["l4", "l6"]);
      // Pages by (score, id) cursor reproduce the full ranking.
      const paged: string[] = [];
      let after: { score: number; id: string } | undefined;
      for (;;) {
        const page = await store.lexicalSearch("forest pines database", 2, { after });
        paged.push(...ids(page));
        if (page.length < 2) break;
        after = { score: page[1]!.score, id: page[1]!.id };
      }
      expect(paged).toEqual(ids(await store.lexicalSearch("forest pines database", 100)));
      expect(new Set(paged).size).toBe(paged.length);
      // Writes keep the index current.
      await store.update("l3", { content: enc.encode("Forest database.") });
      expect(ids(await store.lexicalSearch("forest", 10))).toContain("l3");
      await store.upsertMany([write("l2", { ns: "a" }, null, "nothing about trees")]);
      expect(ids(await store.lexicalSearch("forest", 10))).not.toContain("l2");
      await store.delete("l1");
      expect(ids(await store.lexicalSearch("forest", 10))).not.toContain("l1");
    });

    test("idempotency keys: once per namespace, never across namespaces, reusable after delete, expiring", async () => {
      const { store } = await fresh();
      const [a] = await store.upsertMany([write("i1", { namespace: "a" })], ["key-1"]);
      const [again] = await store.upsertMany([write("i2", { namespace: "a" })], ["key-1"]);
      expect(again!.id).toBe("i1");
      expect(again!.updatedAtUs).toBe(a!.updatedAtUs);
      const seqAfter = await store.latestChangeSeq();
      expect(await store.count()).toBe(1);
      // Namespace b's key of the same text never returns namespace a's KEM.
      const [b] = await store.upsertMany([write("i3", { namespace: "b" })], ["key-1"]);
      expect(b!.id).toBe("i3");
      const [none] = await store.upsertMany([write("i4")], ["key-1"]);
      expect(none!.id).toBe("i4");
      expect(await store.latestChangeSeq()).toBeGreaterThan(seqAfter);
      // The same key twice in one batch stores once.
      const twice = await store.upsertMany(
        [write("i5", { namespace: "c" }), write("i6", { namespace: "c" })],
        ["k2", "k2"],
      );
      expect(ids(twice)).toEqual(["i5", "i5"]);
      expect(await store.getMany(["i6"])).toEqual([]);
      // A deleted KEM's key can be used again.
      expect(await store.delete("i1")).toBe(true);
      const [reused] = await store.upsertMany([write("i7", { namespace: "a" })], ["key-1"]);
      expect(reused!.id).toBe("i7");
      // A KEM moved to another namespace is no longer what its old namespace's key returns.
      await store.update("i7", { metadata: { namespace: "z" } });
      const [moved] = await store.upsertMany([write("i8", { namespace: "a" })], ["key-1"]);
      expect(moved!.id).toBe("i8");
      // Without a key, nothing is deduplicated.
      await store.upsertMany([write("i9", { namespace: "a" }), write("i10", { namespace: "a" })]);
      expect(ids(await store.getMany(["i9", "i10"]))).toEqual(["i9", "i10"]);
    });

    test("idempotency keys expire after their lifetime", async () => {
      const { store } = await fresh({ idempotencyTtlMs: 50 });
      await store.upsertMany([write("e1")], ["ek"]);
      expect((await store.upsertMany([write("e2")], ["ek"]))[0]!.id).toBe("e1");
      await Bun.sleep(80);
      expect((await store.upsertMany([write("e3")], ["ek"]))[0]!.id).toBe("e3");
    });

    test("change log: one entry per write, in order, pruned from the oldest", async () => {
      const { store } = await fresh();
      expect(await store.latestChangeSeq()).toBe(0);
      expect(await store.oldestChangeSeq()).toBe(0);
      await store.upsertMany([write("c1"), write("c2")]);
      await store.update("c1", { contentType: "text/markdown" });
      await store.delete("c2");
      expect(await store.delete("c2")).toBe(false);
      const log = await store.changesSince(0, 100);
      expect(log.map((c) => c.id)).toEqual(["c1", "c2", "c1", "c2"]);
      for (let i = 1; i < log.length; i++) expect(log[i]!.seq).toBeGreaterThan(log[i - 1]!.seq);
      expect(await store.latestChangeSeq()).toBe(log[3]!.seq);
      expect(await store.oldestChangeSeq()).toBe(log[0]!.seq);
      expect((await store.changesSince(log[1]!.seq, 1)).map((c) => c.id)).toEqual(["c1"]);
      await store.pruneChanges(2);
      expect((await store.changesSince(0, 100)).map((c) => c.seq)).toEqual([log[2]!.seq, log[3]!.seq]);
      expect(await store.oldestChangeSeq()).toBe(log[2]!.seq);
    });

    test("restore puts records back exactly and removes the new ones, in one logged write", async () => {
      const { store } = await fresh();
      const [before] = await store.upsertMany([
        write("r1", { v: 1 }, new Float32Array([1, 0]), "old text about forests"),
      ]);
      await store.upsertMany([write("r1", { v: 2 }, null, "new text about oceans"), write("r2", { v: 2 })]);
      const seq = await store.latestChangeSeq();
      await store.restore([before!], ["r2", "never-existed"]);
      const [r1] = await store.getMany(["r1"]);
      expect(r1).toEqual({ ...before!, content: r1!.content });
      expect(dec.decode(r1!.content)).toBe("old text about forests");
      expect(await store.getMany(["r2"])).toEqual([]);
      expect(ids(await store.find({ metadata: { v: 1 } }, 10))).toEqual(["r1"]);
      expect(ids(await store.find({ metadata: { v: 2 } }, 10))).toEqual([]);
      expect(ids(await store.lexicalSearch("forests", 10))).toEqual(["r1"]);
      expect(await store.lexicalSearch("oceans", 10)).toEqual([]);
      expect((await store.changesSince(seq, 10)).map((c) => c.id).sort()).toEqual(["r1", "r2"]);
    });

    test("dataVersion changes when another instance writes, not for own writes", async () => {
      const { store, backing } = await fresh();
      const other = await backing.open();
      const v0 = await store.dataVersion();
      await store.upsertMany([write("x1")]);
      expect(await store.dataVersion()).toBe(v0);
      await other.upsertMany([write("x2")]);
      const v1 = await store.dataVersion();
      expect(v1).not.toBe(v0);
      expect(await store.dataVersion()).toBe(v1);
      expect(ids(await store.getMany(["x2"]))).toEqual(["x2"]);
      expect((await store.changesSince(0, 10)).map((c) => c.id)).toEqual(["x1", "x2"]);
    });
  });
}
