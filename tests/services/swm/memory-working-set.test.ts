/** In-process working set specifics: LRU eviction with events and clean indexes, byte bound. */
import { describe, expect, test } from "bun:test";
import { LimitExceededError } from "../../../services/common/errors.ts";
import { createMemoryEventLog } from "../../../services/swm/events/memory-event-log.ts";
import type { SwmEvent } from "../../../services/swm/ports.ts";
import { createMemoryWorkingSet } from "../../../services/swm/working-set/memory.ts";
import { kem } from "./working-set-contract.ts";

describe("in-process working set", () => {
  test("LRU eviction past maxEntries: KEM_EVICTED per victim, indexes and date order hold only live KEMs; reads refresh recency", async () => {
    const events = createMemoryEventLog();
    const evicted: SwmEvent[] = [];
    await events.subscribe(undefined, (e) => void (e.kind === "evicted" && evicted.push(e)));
    const ws = createMemoryWorkingSet({ events, maxEntries: 50, indexedKeys: ["topic"] });
    for (let i = 0; i < 50; i++) await ws.put([kem(`m${i}`, { topic: `t${i % 5}` })], { agentId: "" });
    await ws.get(["m0"]); // m0 becomes most recently used
    for (let i = 50; i < 200; i++) await ws.put([kem(`m${i}`, { topic: `t${i % 5}` })], { agentId: "" });
    expect(evicted.length).toBe(150);
    expect(evicted.some((e) => e.kemId === "m0")).toBe(true); // touched once, then 150 newer writes
    expect(evicted[0]!.kemId).toBe("m1");
    expect(evicted[0]!.metadata).toEqual({ topic: "t1" });
    const all = await ws.query({ filter: {}, limit: 1000 });
    expect(all.map((r) => r.id)).toEqual(Array.from({ length: 50 }, (_, i) => `m${199 - i}`));
    expect(ws.cache.indexEntries()).toBe(50);
    expect((await ws.query({ filter: { metadata: { topic: "t3" } }, limit: 1000 })).length).toBe(10);
    const mid = all[20]!;
    const older = await ws.query({ filter: { updatedToUs: mid.updatedAtUs }, limit: 5 });
    expect(older.map((r) => r.id)).toEqual(all.slice(20, 25).map((r) => r.id));
    expect((await ws.stats()).evictions).toBe(150);
  });

  test("maxBytes: eviction by size, and a KEM bigger than the bound is LimitExceeded (ResourceExhausted)", async () => {
    const ws = createMemoryWorkingSet({ events: createMemoryEventLog(), maxEntries: 1000, maxBytes: 20_000 });
    for (let i = 0; i < 20; i++) await ws.put([{ ...kem(`b${i}`), content: new Uint8Array(3000) }], { agentId: "" });
    const st = await ws.stats();
    expect(st.kems).toBeLessThanOrEqual(6);
    expect(st.evictions).toBe(20 - st.kems);
    expect(ws.cache.calculatedSize).toBeLessThanOrEqual(20_000);
    await expect(ws.put([{ ...kem("huge"), content: new Uint8Array(30_000) }], { agentId: "" })).rejects.toBeInstanceOf(
      LimitExceededError,
    );
  });
});
