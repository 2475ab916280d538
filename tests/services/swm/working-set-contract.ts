/**
 * One contract for every SWM working-set backend (docs/architecture.md "Code layout"): the same
 * assertions run against the in-process and the Redis backend.
 */
import { afterEach, describe, expect, test } from "bun:test";
import type { KemWrite } from "../../../services/common/kem-record.ts";
import type { EventLog, SwmEvent, WorkingSet } from "../../../services/swm/ports.ts";
import { waitFor as waitUntil } from "../../helpers/wait-for.ts";

/** What a backend factory returns for one test. */
export interface ContractBackend {
  workingSet: WorkingSet;
  events: EventLog;
  close(): Promise<void>;
}

/** Options every backend factory must honour. */
export interface ContractOptions {
  indexedKeys: string[];
  eventHistory?: number;
}

const enc = new TextEncoder();

/** A KEM write for tests. */
export function kem(
  id: string,
  metadata: Record<string, string | number | boolean> = {},
  embedding: number[] | null = null,
): KemWrite {
  return {
    id,
    contentType: "text/plain",
    content: enc.encode(`content of ${id}`),
    metadata,
    embedding: embedding ? Float32Array.from(embedding) : null,
  };
}

/** Polls `cond` every 5 ms until true (or fails after `ms`): the shared `waitFor` with positional arguments. */
export async function waitFor(cond: () => boolean | Promise<boolean>, ms = 3000, what = "condition"): Promise<void> {
  await waitUntil(cond, { timeoutMs: ms, intervalMs: 5, what });
}

/** Subscribes and collects events into an array. */
export async function collect(events: EventLog, after?: number) {
  const got: SwmEvent[] = [];
  let resets = 0;
  const sub = await events.subscribe(
    after,
    (e) => got.push(e),
    () => resets++,
  );
  return { got, sub, resets: () => resets };
}

/**
 * Registers the working-set contract tests.
 * @param name - backend name for the describe block.
 * @param make - creates a fresh, empty backend.
 */
export function workingSetContract(name: string, make: (o: ContractOptions) => Promise<ContractBackend>): void {
  describe(`working set contract: ${name}`, () => {
    const open: ContractBackend[] = [];
    const fresh = async (o: ContractOptions = { indexedKeys: ["topic", "source"] }) => {
      const b = await make(o);
      open.push(b);
      return b;
    };
    afterEach(async () => {
      for (const b of open.splice(0)) await b.close();
    });

    test("put stamps timestamps, keeps created_at on update, and round-trips bytes and float32 exactly", async () => {
      const { workingSet: ws } = await fresh();
      const vec = [0.1, -2.5, 3.75, 1e-7];
      const content = new Uint8Array([0, 255, 128, 10, 13, 0]);
      const [a] = await ws.put([{ ...kem("k1", { topic: "AI", n: 3 }, vec), content }], { agentId: "ag" });
      expect(a!.existed).toBe(false);
      expect(a!.record.createdAtUs).toBe(a!.record.updatedAtUs);
      expect(Math.abs(a!.record.createdAtUs - Date.now() * 1000)).toBeLessThan(5_000_000);
      const found = await ws.get(["k1", "missing"]);
      expect(found.length).toBe(1);
      const [got] = found;
      expect(Array.from(got!.content)).toEqual(Array.from(content));
      expect(Array.from(got!.embedding!)).toEqual(Array.from(Float32Array.from(vec)));
      expect(got!.metadata).toEqual({ topic: "AI", n: 3 });
      const [b] = await ws.put([kem("k1", { topic: "ML" })], { agentId: "ag" });
      expect(b!.existed).toBe(true);
      expect(b!.record.createdAtUs).toBe(a!.record.createdAtUs);
      expect(b!.record.updatedAtUs).toBeGreaterThan(a!.record.updatedAtUs);
      expect(b!.sequence).toBeGreaterThan(a!.sequence);
      expect((await ws.get(["k1"]))[0]!.embedding).toBeNull();
    });

    test("query: ids, indexed metadata (intersection), other metadata, dates; newest first; keyset pages", async () => {
      const { workingSet: ws } = await fresh();
      for (let i = 0; i < 12; i++) {
        await ws.put(
          [
            kem(`q${String(i).padStart(2, "0")}`, {
              topic: i % 2 ? "odd" : "even",
              source: i % 3 === 0 ? "three" : "other",
              n: i,
              flag: i > 5,
            }),
          ],
          { agentId: "" },
        );
      }
      const all = await ws.query({ filter: {}, limit: 100 });
      expect(all.map((r) => r.id)).toEqual(Array.from({ length: 12 }, (_, i) => `q${String(11 - i).padStart(2, "0")}`));
      const idx = await ws.query({ filter: { metadata: { topic: "even", source: "three" } }, limit: 100 });
      expect(idx.map((r) => r.id)).toEqual(["q06", "q00"]);
      const mixed = await ws.query({
        filter: { ids: ["q00", "q03", "q06", "q09", "nope"], metadata: { topic: "odd", flag: true } },
        limit: 100,
      });
      expect(mixed.map((r) => r.id)).toEqual(["q09"]);
      const numeric = await ws.query({ filter: { metadata: { n: 4 } }, limit: 100 });
      expect(numeric.map((r) => r.id)).toEqual(["q04"]);
      const cut = all[4]!.updatedAtUs;
      const recent = await ws.query({ filter: { updatedFromUs: cut }, limit: 100 });
      expect(recent.map((r) => r.id)).toEqual(all.slice(0, 5).map((r) => r.id));
      const older = await ws.query({
        filter: { createdToUs: all[8]!.createdAtUs, metadata: { topic: "odd" } },
        limit: 100,
      });
      expect(older.map((r) => r.id)).toEqual(["q03", "q01"]);
      const seen: string[] = [];
      let after: { updatedAtUs: number; id: string } | undefined;
      for (;;) {
        const page = await ws.query({ filter: { metadata: { source: "other" } }, limit: 3, after });
        seen.push(...page.map((r) => r.id));
        if (page.length < 3) break;
        after = { updatedAtUs: page[2]!.updatedAtUs, id: page[2]!.id };
      }
      expect(seen).toEqual(all.filter((r) => r.metadata.source === "other").map((r) => r.id));
    });

    test("updating indexed metadata moves the id between index sets", async () => {
      const { workingSet: ws } = await fresh();
      await ws.put([kem("m1", { topic: "a" }), kem("m2", { topic: "a" })], { agentId: "" });
      await ws.put([kem("m1", { topic: "b" })], { agentId: "" });
      expect((await ws.query({ filter: { metadata: { topic: "a" } }, limit: 10 })).map((r) => r.id)).toEqual(["m2"]);
      expect((await ws.query({ filter: { metadata: { topic: "b" } }, limit: 10 })).map((r) => r.id)).toEqual(["m1"]);
    });

    test("delete removes the KEM from every index and emits KEM_DELETED; a second delete is false", async () => {
      const { workingSet: ws, events } = await fresh();
      const c = await collect(events);
      await ws.put([kem("d1", { topic: "x" })], { agentId: "a1" });
      expect(await ws.delete("d1", { agentId: "a2" })).toBe(true);
      expect(await ws.delete("d1", { agentId: "a2" })).toBe(false);
      expect(await ws.query({ filter: { metadata: { topic: "x" } }, limit: 10 })).toEqual([]);
      expect(await ws.query({ filter: {}, limit: 10 })).toEqual([]);
      await waitFor(() => c.got.length === 2, 3000, "2 events");
      expect(c.got.map((e) => [e.kind, e.kemId, e.agentId])).toEqual([
        ["published", "d1", "a1"],
        ["deleted", "d1", "a2"],
      ]);
      expect(c.got[1]!.metadata).toEqual({ topic: "x" });
      expect(c.got[1]!.sequence).toBe(c.got[0]!.sequence + 1);
      c.sub.close();
    });

    test("refresh applies only over the expected version; keepTimestamps keeps given times", async () => {
      const { workingSet: ws } = await fresh();
      const [a] = await ws.put([kem("r1", { topic: "t" })], { agentId: "" });
      const glmVersion = { ...a!.record, createdAtUs: 1_700_000_000_000_001, updatedAtUs: 1_700_000_000_000_002 };
      expect(
        await ws.refresh([{ record: glmVersion, expectedUpdatedAtUs: a!.record.updatedAtUs - 1 }], { agentId: "" }),
      ).toEqual([false]);
      expect(
        await ws.refresh([{ record: glmVersion, expectedUpdatedAtUs: a!.record.updatedAtUs }], { agentId: "" }),
      ).toEqual([true]);
      const [r] = await ws.get(["r1"]);
      expect([r!.createdAtUs, r!.updatedAtUs]).toEqual([1_700_000_000_000_001, 1_700_000_000_000_002]);
      expect(
        await ws.refresh([{ record: { ...glmVersion, id: "absent" }, expectedUpdatedAtUs: 5 }], { agentId: "" }),
      ).toEqual([false]);
      await ws.put([{ ...kem("l1"), createdAtUs: 1_600_000_000_000_000, updatedAtUs: 1_600_000_000_000_123 }], {
        agentId: "",
        keepTimestamps: true,
      });
      const [l] = await ws.get(["l1"]);
      expect([l!.createdAtUs, l!.updatedAtUs]).toEqual([1_600_000_000_000_000, 1_600_000_000_000_123]);
      const [n1] = await ws.put([kem("n1")], { agentId: "" });
      expect((await ws.query({ filter: {}, limit: 10 })).map((x) => x.id)).toEqual(["n1", "r1", "l1"]); // by the kept times
      expect(
        (await ws.query({ filter: { updatedToUs: n1!.record.updatedAtUs - 1 }, limit: 10 })).map((x) => x.id),
      ).toEqual(["r1", "l1"]);
    });

    test("refresh of a batch: each item only over its expected version; timestamps-only items keep payload and indexes; one KEM_UPDATED per item applied", async () => {
      const { workingSet: ws, events } = await fresh();
      const put = await ws.put(
        [kem("b1", { topic: "a" }, [0.6, 0.8]), kem("b2", { topic: "b" }), kem("b3", { topic: "c" })],
        { agentId: "" },
      );
      const c = await collect(events);
      const glm = (i: number, us: number) => ({ ...put[i]!.record, createdAtUs: us, updatedAtUs: us + 1 });
      const b3 = { ...glm(2, 1_700_000_000_000_030), metadata: { topic: "d" } };
      const applied = await ws.refresh(
        [
          {
            record: glm(0, 1_700_000_000_000_010),
            expectedUpdatedAtUs: put[0]!.record.updatedAtUs,
            timestampsOnly: true,
          },
          { record: glm(1, 1_700_000_000_000_020), expectedUpdatedAtUs: 7, timestampsOnly: true }, // stale
          { record: b3, expectedUpdatedAtUs: put[2]!.record.updatedAtUs }, // GLM's body differs
          { record: { ...glm(0, 5), id: "gone" }, expectedUpdatedAtUs: 5, timestampsOnly: true },
        ],
        { agentId: "wb", details: "from GLM" },
      );
      expect(applied).toEqual([true, false, true, false]);
      const got = await ws.get(["b1", "b2", "b3"]);
      expect(got[0]).toEqual(glm(0, 1_700_000_000_000_010));
      expect(got[1]).toEqual(put[1]!.record);
      expect(got[2]).toEqual(b3);
      expect((await ws.query({ filter: { metadata: { topic: "d" } }, limit: 10 })).map((r) => r.id)).toEqual(["b3"]);
      expect((await ws.query({ filter: { metadata: { topic: "c" } }, limit: 10 })).map((r) => r.id)).toEqual([]);
      expect((await ws.query({ filter: { metadata: { topic: "a" } }, limit: 10 })).map((r) => r.id)).toEqual(["b1"]);
      // The puts' own events may still arrive after subscribing; the refresh's come in any order.
      const refreshed = () => c.got.filter((e) => e.agentId === "wb").sort((x, y) => x.kemId.localeCompare(y.kemId));
      await waitFor(() => refreshed().length >= 2, 3000, "2 events");
      await new Promise((r) => setTimeout(r, 50)); // and no third
      expect(refreshed().map((e) => [e.kind, e.kemId, e.agentId, e.details])).toEqual([
        ["updated", "b1", "wb", "from GLM"],
        ["updated", "b3", "wb", "from GLM"],
      ]);
      expect(refreshed()[0]!.kem).toEqual(glm(0, 1_700_000_000_000_010));
      c.sub.close();
    });

    test("events: published/updated carry the KEM; resume replays exactly what was missed; old resume points need a reload", async () => {
      const { workingSet: ws, events } = await fresh({ indexedKeys: ["topic"], eventHistory: 20 });
      const live = await collect(events);
      await ws.put([kem("e1", { topic: "x" })], { agentId: "ag" });
      await ws.put([kem("e1", { topic: "y" })], { agentId: "ag" });
      await waitFor(() => live.got.length === 2, 3000, "live events");
      expect(live.got.map((e) => e.kind)).toEqual(["published", "updated"]);
      expect(live.got[1]!.kem!.metadata).toEqual({ topic: "y" });
      const mark = live.got[1]!.sequence;
      for (let i = 0; i < 5; i++) await ws.put([kem(`e${i + 2}`)], { agentId: "" });
      const resumed = await collect(events, mark);
      expect(resumed.sub.reloadRequired).toBe(false);
      await ws.put([kem("after")], { agentId: "" });
      await waitFor(() => resumed.got.length === 6, 3000, "replay + live");
      expect(resumed.got.map((e) => e.sequence)).toEqual(Array.from({ length: 6 }, (_, i) => mark + 1 + i));
      expect(resumed.got.map((e) => e.kemId)).toEqual(["e2", "e3", "e4", "e5", "e6", "after"]);
      expect(await events.lastSequence()).toBe(mark + 6);
      for (let i = 0; i < 200; i++) await ws.put([kem(`bulk${i}`)], { agentId: "" });
      const stale = await collect(events, mark);
      expect(stale.sub.reloadRequired).toBe(true);
      const future = await collect(events, (await events.lastSequence()) + 1000);
      expect(future.sub.reloadRequired).toBe(true);
      const current = await collect(events, await events.lastSequence());
      expect(current.sub.reloadRequired).toBe(false);
      for (const s of [live, resumed, stale, future, current]) s.sub.close();
    });
  });
}
