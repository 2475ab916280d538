/**
 * Redis-specific behaviour of the working set: the key layout (docs/redis-layout.md), eviction under `maxmemory`
 * with clean indexes, and readers repairing stale ids. Real redis-server on a free port.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Code } from "@connectrpc/connect";
import { BackendUnavailableError, LimitExceededError, toConnectError } from "../../../services/common/errors.ts";
import { microsToIso } from "../../../services/common/time.ts";
import { createRedisSwmBackend, type SwmBackend } from "../../../services/swm/backends.ts";
import type { SwmEvent } from "../../../services/swm/ports.ts";
import { connectRedis, type RedisConnection } from "../../../services/swm/redis/connection.ts";
import type { RedisWorkingSet } from "../../../services/swm/working-set/redis.ts";
import { freePort, startRedis, type TestRedis } from "../../helpers/redis-server.ts";
import { kem, waitFor } from "./working-set-contract.ts";

let redis: TestRedis;
let conn: RedisConnection;
beforeAll(async () => {
  redis = await startRedis({ maxmemory: "10mb" });
  conn = await connectRedis(redis.url);
});
afterAll(async () => {
  await conn.close();
  await redis.stop();
});

/** Ids in any index of `prefix` whose KEM hash is gone. */
async function staleIds(prefix: string): Promise<string[]> {
  const stale = new Set<string>();
  const members = [
    ...(await conn.cmd<string[]>(["ZRANGE", `${prefix}swm_idx:date:updated_at`, "0", "-1"])),
    ...(await conn.cmd<string[]>(["ZRANGE", `${prefix}swm_idx:date:created_at`, "0", "-1"])),
  ];
  for (const key of await conn.cmd<string[]>(["KEYS", `${prefix}swm_idx:meta:*`]))
    members.push(...(await conn.cmd<string[]>(["SMEMBERS", key])));
  for (const id of new Set(members))
    if (Number(await conn.cmd(["EXISTS", `${prefix}swm_kem:${id}`])) === 0) stale.add(id);
  return [...stale];
}

describe("Redis working set", () => {
  test("start-up fails fast with BackendUnavailableError when Redis is unreachable", async () => {
    const t0 = Date.now();
    const err = await createRedisSwmBackend({ url: `redis://127.0.0.1:${await freePort()}` }).catch((e) => e);
    expect(err).toBeInstanceOf(BackendUnavailableError);
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  test("writes the documented layout: hash fields, ISO and unix-second timestamps, raw float32 embeddings, TTL only on the hash", async () => {
    const b = await createRedisSwmBackend({ url: redis.url, prefix: "lay:", indexedKeys: ["topic"] });
    try {
      const [r] = await b.workingSet.put([kem("k1", { topic: "AI", n: 1 }, [1, 0.5, -0.25])], { agentId: "a" });
      const h = await conn.bin<Record<string, Buffer>>(["HGETALL", "lay:swm_kem:k1"]);
      expect(Object.keys(h).sort()).toEqual([
        "content",
        "content_type",
        "created_at",
        "created_at_ts",
        "created_at_us",
        "embeddings",
        "id",
        "metadata",
        "updated_at",
        "updated_at_ts",
        "updated_at_us",
      ]);
      expect(h.created_at!.toString()).toBe(microsToIso(r!.record.createdAtUs));
      expect(h.updated_at_ts!.toString()).toBe(String(Math.floor(r!.record.updatedAtUs / 1e6)));
      expect(Array.from(new Float32Array(new Uint8Array(h.embeddings!).buffer))).toEqual([1, 0.5, -0.25]);
      expect(JSON.parse(h.metadata!.toString())).toEqual({ topic: "AI", n: 1 });
      expect(await conn.cmd<string[]>(["SMEMBERS", "lay:swm_idx:meta:topic:AI"])).toEqual(["k1"]);
      expect(Number(await conn.cmd(["ZSCORE", "lay:swm_idx:date:updated_at", "k1"]))).toBe(r!.record.updatedAtUs);
      expect(Number(await conn.cmd(["PTTL", "lay:swm_kem:k1"]))).toBeGreaterThan(0);
      for (const k of [
        "lay:swm_idx:meta:topic:AI",
        "lay:swm_idx:date:updated_at",
        "lay:swm_idx:date:created_at",
        "lay:swm_ref:k1",
        "lay:swm_events",
      ]) {
        expect(Number(await conn.cmd(["PTTL", k]))).toBe(-1);
      }
      expect(await conn.cmd(["CONFIG", "GET", "maxmemory-policy"])).toEqual({ "maxmemory-policy": "volatile-lru" });
      expect(await b.workingSet.delete("k1", { agentId: "" })).toBe(true); // keep the next test's eviction count exact
      expect(
        [
          ...String(
            Object.values(await conn.cmd<Record<string, string>>(["CONFIG", "GET", "notify-keyspace-events"]))[0],
          ),
        ].sort(),
      ).toEqual(["E", "e", "x"]);
    } finally {
      await b.close();
    }
  });

  test("filling Redis past maxmemory evicts only KEM hashes; queries return live KEMs; indexes hold no stale ids once quiet", async () => {
    const b: SwmBackend = await createRedisSwmBackend({
      url: redis.url,
      prefix: "ev:",
      indexedKeys: ["topic", "source"],
      eventHistory: 15_000,
    }); // history outlasts the test's ~11k events
    const ws = b.workingSet as RedisWorkingSet;
    const evicted = new Set<string>();
    let gaps = 0;
    const sub = await b.events.subscribe(
      undefined,
      (e: SwmEvent) => void (e.kind === "evicted" && evicted.add(e.kemId)),
      () => gaps++,
    );
    try {
      await b.counters.increment("survivor", 42n);
      const big = new Uint8Array(2048).fill(7);
      const total = 7000;
      for (let i = 0; i < total; i += 100) {
        await ws.put(
          Array.from({ length: 100 }, (_, j) => ({
            ...kem(`f${i + j}`, { topic: `t${(i + j) % 4}`, source: (i + j) % 2 ? "odd" : "even" }),
            content: big,
          })),
          { agentId: "filler" },
        );
      }
      const evictedKeys = async () => Number(/evicted_keys:(\d+)/.exec(await conn.cmd<string>(["INFO", "stats"]))![1]);
      expect(await evictedKeys()).toBeGreaterThan(total / 3);
      // Quiet: no eviction for 300 ms and no index entry pointing at a missing hash.
      const quiet = async () => {
        let settled = -1;
        await waitFor(
          async () => {
            const before = await evictedKeys();
            await Bun.sleep(300);
            const stale = await staleIds("ev:");
            settled = await evictedKeys();
            return stale.length === 0 && settled === before;
          },
          15_000,
          "quiet Redis with no stale index entries",
        );
        // Every eviction (only KEM hashes carry a TTL) is announced exactly once.
        await waitFor(() => evicted.size === settled, 5000, "one KEM_EVICTED per evicted key");
      };
      await quiet();
      expect(gaps).toBe(0); // the live subscriber never fell behind the event history
      // Queries return only cached KEMs: nothing already announced as evicted, every filter honoured.
      // (Big replies grow Redis's output buffers, so Redis may evict more while we read: compare with
      // what was evicted before each page.)
      let after: { updatedAtUs: number; id: string } | undefined;
      let returned = 0;
      for (;;) {
        const evictedBefore = new Set(evicted);
        const page = await ws.query({ filter: { metadata: { topic: "t1", source: "odd" } }, limit: 100, after });
        returned += page.length;
        for (const r of page) {
          expect(evictedBefore.has(r.id)).toBe(false);
          expect([r.metadata.topic, r.metadata.source]).toEqual(["t1", "odd"]);
        }
        if (page.length < 100) break;
        after = { updatedAtUs: page[99]!.updatedAtUs, id: page[99]!.id };
      }
      expect(returned).toBeGreaterThan(0);
      await quiet();
      // Each KEM is either cached (and indexed) or was evicted and announced: none lost, none stale.
      expect((await ws.stats()).kems + evicted.size).toBe(total);
      for (const t of ["t0", "t1", "t2", "t3"])
        expect(Number(await conn.cmd(["SCARD", `ev:swm_idx:meta:topic:${t}`]))).toBeGreaterThan(0);
      expect(await b.counters.get("survivor")).toBe(42n);
    } finally {
      sub.close();
      await b.close();
      await conn.cmd(["FLUSHALL"]); // leave a Redis with room for the next tests
    }
  }, 60_000);

  test("a reader meeting an index entry whose hash is gone skips it, repairs the indexes and emits KEM_EVICTED", async () => {
    const b = await createRedisSwmBackend({ url: redis.url, prefix: "rep:", indexedKeys: ["topic"] });
    const got: SwmEvent[] = [];
    const sub = await b.events.subscribe(undefined, (e) => got.push(e));
    try {
      await b.workingSet.put([kem("a", { topic: "x" }), kem("b", { topic: "x" }), kem("c", { topic: "x" })], {
        agentId: "",
      });
      // A hash removed with no notification delivered (as when no SWM process was connected).
      await conn.cmd(["CONFIG", "SET", "notify-keyspace-events", ""]);
      await conn.cmd(["DEL", "rep:swm_kem:b"]);
      const rows = await b.workingSet.query({ filter: { metadata: { topic: "x" } }, limit: 10 });
      expect(rows.map((r) => r.id).sort()).toEqual(["a", "c"]);
      await waitFor(async () => (await staleIds("rep:")).length === 0, 3000, "repair");
      await waitFor(() => got.some((e) => e.kind === "evicted" && e.kemId === "b"), 3000, "KEM_EVICTED for b");
      expect(got.find((e) => e.kind === "evicted")!.metadata).toEqual({ topic: "x" });
      expect((await b.workingSet.stats()).repairedStaleIds).toBeGreaterThanOrEqual(1); // the start-up sweep may have repaired it first
      await conn.cmd(["DEL", "rep:swm_kem:c"]);
      expect(await (b.workingSet as RedisWorkingSet).repairAll()).toBe(1);
      expect(await staleIds("rep:")).toEqual([]);
    } finally {
      await conn.cmd(["CONFIG", "SET", "notify-keyspace-events", "Exe"]);
      sub.close();
      await b.close();
    }
  });

  test("when Redis is full of data that cannot be evicted, publishing fails with LimitExceeded (ResourceExhausted)", async () => {
    const own = await startRedis({ maxmemory: "3mb" });
    const b = await createRedisSwmBackend({ url: own.url, prefix: "oom:" });
    try {
      const raw = await connectRedis(own.url);
      // Keys without a TTL (not evictable under volatile-lru), then a maxmemory below what they use.
      for (let i = 0; i < 4; i++) await raw.cmd(["SET", `pinned${i}`, Buffer.alloc(300_000, 120)]);
      const used = Number(/used_memory:(\d+)/.exec(String(await raw.cmd(["INFO", "memory"])))![1]);
      await raw.cmd(["CONFIG", "SET", "maxmemory", String(used - 200_000)]);
      // (While any KEM is cached, a write evicts it instead: only non-evictable data can fill Redis.)
      const err = await b.workingSet.put([kem("no-room")], { agentId: "" }).then(
        () => undefined,
        (e) => e,
      );
      expect(err).toBeInstanceOf(LimitExceededError);
      expect(toConnectError(err).code).toBe(Code.ResourceExhausted);
      await raw.close();
    } finally {
      await b.close();
      await own.stop();
    }
  });
});
