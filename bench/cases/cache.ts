/**
 * Cache micro cases (mitata): `IndexedLRUCache` get / set / query-by-index against a plain
 * `lru-cache` and a plain `Map` doing the same work, and the Agent SDK's LPA hit path
 * (`AgentSDK.getKem` answered from local memory) against a plain `lru-cache` get.
 * @module
 */
import { create } from "@bufbuild/protobuf";
import { LRUCache } from "lru-cache";
import { do_not_optimize } from "mitata";
import { type KEM, KEMSchema } from "../../sdk/gen/dcsm/v1/kem_pb.ts";
import { createAgentSDK } from "../../sdk/index.ts";
import { IndexedLRUCache } from "../../sdk/indexed-lru-cache.ts";
import { compareMicro } from "../lib/measure.ts";
import type { BenchResult } from "../lib/stats.ts";

/** Entries in each cache (all fit: no eviction during get/query). */
const N = 10_000;
/** Distinct values of the indexed key (query-by-index returns N / TOPICS keys). */
const TOPICS = 100;

interface Val {
  id: string;
  metadata: Record<string, unknown>;
}

const keys = Array.from({ length: N }, (_, i) => `kem-${i.toString(36)}-${(i * 7919) % 1000}`);
const vals: Val[] = keys.map((id, i) => ({ id, metadata: { topic: `t${i % TOPICS}`, n: i } }));

function makeIndexed(max = N): IndexedLRUCache<Val> {
  const c = new IndexedLRUCache<Val>({ max, indexedKeys: ["topic"], metadataOf: (v) => v.metadata });
  for (let i = 0; i < N; i++) c.set(keys[i]!, vals[i]!);
  return c;
}

function makeLru(max = N): LRUCache<string, Val> {
  const c = new LRUCache<string, Val>({ max });
  for (let i = 0; i < N; i++) c.set(keys[i]!, vals[i]!);
  return c;
}

function makeMap(): Map<string, Val> {
  const m = new Map<string, Val>();
  for (let i = 0; i < N; i++) m.set(keys[i]!, vals[i]!);
  return m;
}

/** `cache.get/*`: hits on a 10k-entry cache, keys visited with a stride (no eviction). */
export async function benchCacheGet(): Promise<BenchResult[]> {
  const ix = makeIndexed();
  const lru = makeLru();
  const map = makeMap();
  let a = 0;
  let b = 0;
  let c = 0;
  const res = await compareMicro(
    {
      name: "cache.get/lru-cache",
      fn: () => {
        b = (b + 7) % N;
        return do_not_optimize(lru.get(keys[b]!));
      },
    },
    [
      {
        name: "cache.get/indexed-lru",
        fn: () => {
          a = (a + 7) % N;
          return do_not_optimize(ix.get(keys[a]!));
        },
        target: 0.5,
      },
      {
        name: "cache.get/map",
        fn: () => {
          c = (c + 7) % N;
          return do_not_optimize(map.get(keys[c]!));
        },
      },
    ],
  );
  return res;
}

/**
 * `cache.set/*`: replacing existing entries with a new value object whose indexed value changes
 * (IndexedLRUCache updates its index; lru-cache and Map only store).
 */
export async function benchCacheSet(): Promise<BenchResult[]> {
  const ix = makeIndexed();
  const lru = makeLru();
  const map = makeMap();
  const fresh = vals.map((v, i) => ({ id: v.id, metadata: { topic: `t${(i + 1) % TOPICS}`, n: i } }));
  let a = 0;
  let b = 0;
  let c = 0;
  // Each pass over the keys alternates between the two value sets, so every set changes the topic.
  const alt = (i: number) => (Math.floor(i / N) & 1 ? vals[i % N]! : fresh[i % N]!);
  return compareMicro({ name: "cache.set/lru-cache", fn: () => lru.set(keys[++b % N]!, alt(b)) }, [
    { name: "cache.set/indexed-lru", fn: () => ix.set(keys[++a % N]!, alt(a)) },
    { name: "cache.set/map", fn: () => map.set(keys[++c % N]!, alt(c)) },
  ]);
}

/**
 * `cache.query/indexed-lru`: `query({ topic })` returning the 100 matching values, against a
 * hand-written `Map<value, Set<key>>` index plus `Map` lookups (the raw work) and a full scan of a
 * plain `lru-cache`.
 */
export async function benchCacheQuery(): Promise<BenchResult[]> {
  const ix = makeIndexed();
  const lru = makeLru();
  const map = makeMap();
  const index = new Map<string, Set<string>>();
  for (const v of vals) {
    const t = v.metadata.topic as string;
    let s = index.get(t);
    if (!s) {
      s = new Set();
      index.set(t, s);
    }
    s.add(v.id);
  }
  let a = 0;
  let b = 0;
  let c = 0;
  return compareMicro(
    {
      name: "cache.query/map-index",
      fn: () => {
        b = (b + 1) % TOPICS;
        const out: Val[] = [];
        for (const k of index.get(`t${b}`)!) out.push(map.get(k)!);
        return do_not_optimize(out);
      },
    },
    [
      {
        name: "cache.query/indexed-lru",
        fn: () => {
          a = (a + 1) % TOPICS;
          return do_not_optimize(ix.query({ topic: `t${a}` }));
        },
      },
      {
        name: "cache.query/lru-cache-scan",
        fn: () => {
          c = (c + 1) % TOPICS;
          const want = `t${c}`;
          const out: Val[] = [];
          for (const v of lru.values()) if (v.metadata.topic === want) out.push(v);
          return do_not_optimize(out);
        },
      },
    ],
    { minCpuMs: 150 },
  );
}

/**
 * `lpa.get-kem/hit`: `AgentSDK.getKem(id)` answered from the local memory (no network; the SDK
 * points at an unused port), against a plain `lru-cache` get of the same KEM objects.
 */
export async function benchLpaHit(): Promise<BenchResult[]> {
  const sdk = createAgentSDK({
    baseUrl: "http://127.0.0.1:9",
    agentId: "bench",
    lpa: { maxEntries: N, indexedKeys: ["topic"] },
  });
  const content = new TextEncoder().encode("x".repeat(200));
  const kems: KEM[] = keys.map((id, i) => create(KEMSchema, { id, content, metadata: { topic: `t${i % TOPICS}` } }));
  const lru = new LRUCache<string, KEM>({ max: N });
  for (const k of kems) {
    sdk.lpa.put(k);
    lru.set(k.id, k);
  }
  let a = 0;
  let b = 0;
  return compareMicro(
    {
      name: "lpa.lru-cache-get",
      fn: () => {
        b = (b + 7) % N;
        return do_not_optimize(lru.get(keys[b]!));
      },
    },
    [
      {
        name: "lpa.get-kem/hit",
        fn: async () => {
          a = (a + 7) % N;
          const k = await sdk.getKem(keys[a]!);
          if (!k) throw new Error("LPA miss");
        },
      },
    ],
  );
}
