import { describe, expect, test } from "bun:test";
import { IndexedLRUCache } from "../../sdk/indexed-lru-cache.ts";

interface Item {
  md: Record<string, unknown>;
  size?: number;
}

function make(
  max: number,
  evicted: string[] = [],
  extra: Partial<ConstructorParameters<typeof IndexedLRUCache<Item>>[0]> = {},
) {
  return new IndexedLRUCache<Item>({
    max,
    indexedKeys: ["topic", "source"],
    metadataOf: (v) => v.md,
    onEvict: (k) => evicted.push(k),
    ...extra,
  });
}

describe("IndexedLRUCache", () => {
  test("evicts the least recently used; get refreshes recency, peek does not; eviction cleans indexes", () => {
    const evicted: string[] = [];
    const c = make(3, evicted);
    c.set("a", { md: { topic: "x" } });
    c.set("b", { md: { topic: "x" } });
    c.set("c", { md: { topic: "y" } });
    c.get("a");
    c.peek("b");
    c.set("d", { md: { topic: "x" } });
    expect(evicted).toEqual(["b"]);
    expect([...c.keysWhere({ topic: "x" })!].sort()).toEqual(["a", "d"]);
    expect(c.indexCount("topic", "x")).toBe(2);
    c.set("e", { md: { topic: "z" } });
    expect(evicted).toEqual(["b", "c"]);
    expect(c.indexCount("topic", "y")).toBe(0);
    expect(c.indexEntries()).toBe(3);
  });

  test("replacement moves index entries; delete and clear empty them without onEvict", () => {
    const evicted: string[] = [];
    const c = make(10, evicted);
    c.set("a", { md: { topic: "x", source: "s1" } });
    expect(c.set("a", { md: { topic: "y", source: "s1" } })).toEqual({ md: { topic: "x", source: "s1" } });
    expect(c.indexCount("topic", "x")).toBe(0);
    expect(c.indexCount("topic", "y")).toBe(1);
    expect(c.indexCount("source", "s1")).toBe(1);
    c.delete("a");
    expect(c.indexEntries()).toBe(0);
    c.set("b", { md: { topic: "q" } });
    c.clear();
    expect(c.indexEntries()).toBe(0);
    expect(c.size).toBe(0);
    expect(evicted).toEqual([]);
  });

  test("query intersects index sets, then checks non-indexed and non-string filters", () => {
    const c = make(100);
    for (let i = 0; i < 20; i++)
      c.set(`k${i}`, {
        md: { topic: i % 2 ? "odd" : "even", source: i % 4 === 0 ? "four" : "other", n: i, label: `l${i % 3}` },
      });
    const ids = (f: Record<string, unknown>) =>
      c
        .query(f)
        .map((v) => v.md.n as number)
        .sort((a, b) => a - b);
    expect(ids({ topic: "even", source: "four" })).toEqual([0, 4, 8, 12, 16]);
    expect(ids({ topic: "even", label: "l0" })).toEqual([0, 6, 12, 18]);
    expect(ids({ n: 7 })).toEqual([7]);
    expect(ids({ topic: "nothing" })).toEqual([]);
    expect(c.keysWhere({ label: "l0" })).toBeNull();
    expect(ids({}).length).toBe(20);
  });

  test("only string values are indexed; numbers still match through the scan", () => {
    const c = make(10);
    c.set("a", { md: { topic: 5 } });
    expect(c.indexEntries()).toBe(0);
    expect(c.query({ topic: 5 }).length).toBe(1);
    expect(c.query({ topic: "5" }).length).toBe(0);
  });

  test("maxSize bounds the total size; an entry larger than maxSize is refused", () => {
    const evicted: string[] = [];
    const c = make(100, evicted, { maxSize: 100, sizeOf: (v) => v.size ?? 1 });
    for (let i = 0; i < 5; i++) c.set(`s${i}`, { md: { topic: "t" }, size: 30 });
    expect(c.size).toBe(3);
    expect(c.calculatedSize).toBeLessThanOrEqual(100);
    expect(evicted).toEqual(["s0", "s1"]);
    expect(c.indexCount("topic", "t")).toBe(3);
    expect(() => c.set("big", { md: { topic: "t" }, size: 101 })).toThrow(RangeError);
    expect(c.indexCount("topic", "t")).toBe(3);
    expect(() => new IndexedLRUCache<Item>({ max: 0, metadataOf: (v) => v.md })).toThrow(RangeError);
  });

  test("the module is browser-safe: no node: or bun: imports", async () => {
    const src = await Bun.file(new URL("../../sdk/indexed-lru-cache.ts", import.meta.url)).text();
    expect(src).not.toMatch(/from\s+["'](node:|bun:)/);
  });
});
