/**
 * The {@link KemStore} contract: behaviour every GLM store backend must have (SQLite, PostgreSQL),
 * run by each backend's test file against a real file or a real database.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { NotFoundError } from "../../../services/common/errors.ts";
import type { KemRecord, KemWrite } from "../../../services/common/kem-record.ts";
import type { KemStore } from "../../../services/glm/ports.ts";

/** Options a backend passes to its store. */
export interface ContractStoreOptions {
  idempotencyTtlMs?: number;
}

/** A fresh, empty backing store (a file, a database) that instances can be opened on. */
export interface ContractBacking {
  /** Opens one more store instance on this backing (instances share data, like processes). */
  open(options?: ContractStoreOptions): Promise<KemStore>;
}

/** A backend under test. */
export interface ContractBackend {
  /** Backend name, e.g. "SQLite". */
  name: string;
  /** Creates a fresh backing. */
  create(): Promise<ContractBacking>;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

function write(
  id: string,
  metadata: Record<string, unknown> = {},
  embedding: Float32Array | null = null,
  text = `content of ${id}`,
  contentType = "text/plain",
): KemWrite {
  return { id, contentType, content: enc.encode(text), metadata: metadata as KemWrite["metadata"], embedding };
}

const ids = (rs: { id: string }[]) => rs.map((r) => r.id);

/** Every page of `find` with page size `size`, concatenated. */
async function allPages(store: KemStore, filter: Parameters<KemStore["find"]>[0], size: number): Promise<KemRecord[]> {
  const out: KemRecord[] = [];
  let after: { updatedAtUs: number; id: string } | undefined;
  for (;;) {
    const page = await store.find(filter, size, after);
    out.push(...page);
    if (page.length < size) return out;
    const last = page[page.length - 1]!;
    after = { updatedAtUs: last.updatedAtUs, id: last.id };
  }
}

/** Registers the contract suite for `backend`. */
export function kemStoreContract(backend: ContractBackend): void {
  describe(`KemStore contract: ${backend.name}`, () => {
    const opened: KemStore[] = [];
    async function fresh(options?: ContractStoreOptions): Promise<{ store: KemStore; backing: ContractBacking }> {
      const backing = await backend.create();
      const store = await backing.open(options);
      opened.push(store);
      return {
        store,
        backing: {
          async open(o) {
            const s = await backing.open(o);
            opened.push(s);
            return s;
          },
        },
      };
    }
    afterEach(async () => {
      for (const s of opened.splice(0)) await s.close();
    });

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
