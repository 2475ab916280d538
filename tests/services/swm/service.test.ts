import { describe, expect, test } from "bun:test";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { GlobalLongTermMemoryService } from "../../../sdk/gen/dcsm/v1/glm_service_pb.ts";
import { EventType, LockStatus, ReleaseStatus, type SWMMemoryEvent } from "../../../sdk/gen/dcsm/v1/swm_service_pb.ts";
import { timestampToMicros } from "../../../services/common/time.ts";
import { codeOf } from "../../helpers/connect-code.ts";
import { createTestGlm, glmClientTransport } from "../../helpers/glm.ts";
import { freePort } from "../../helpers/redis-server.ts";
import { tempDir } from "../../helpers/temp-dir.ts";
import { waitFor } from "../../helpers/wait-for.ts";
import { type Kind, type makeSwm, swmPerFile } from "./helpers.ts";

const enc = new TextEncoder();
const swmFile = swmPerFile();

/**
 * Reads `n` events from a stream (then cancels it), skipping the "subscribed" heartbeat every
 * stream starts with; `subscribed` resolves once that heartbeat is in (the server has registered
 * the stream) or the stream has ended.
 */
function take(
  stream: AsyncIterable<SWMMemoryEvent>,
  n: number,
  ac: AbortController,
): Promise<SWMMemoryEvent[]> & { subscribed: Promise<void> } {
  let markSubscribed!: () => void;
  const subscribed = new Promise<void>((resolve) => (markSubscribed = resolve));
  const events = (async () => {
    const out: SWMMemoryEvent[] = [];
    try {
      for await (const e of stream) {
        if (e.eventType === EventType.HEARTBEAT && e.details === "subscribed") {
          markSubscribed();
          continue;
        }
        out.push(e);
        if (out.length === n) break;
      }
    } catch (err) {
      if (ConnectError.from(err).code !== Code.Canceled) throw err;
    } finally {
      markSubscribed();
    }
    ac.abort();
    return out;
  })();
  return Object.assign(events, { subscribed });
}

for (const kind of ["memory", "redis"] as Kind[]) {
  describe(`SWM service on ${kind}`, () => {
    const swm = (o: Parameters<typeof makeSwm>[1] = {}) => swmFile.make(kind, o);

    test("PublishKEMToSWM: generated UUIDv7 id, KEM_PUBLISHED then KEM_UPDATED to a subscriber; QuerySWM finds it", async () => {
      const { client } = await swm();
      const ac = new AbortController();
      const events = take(client.subscribeToSWMEvents({ agentId: "watcher" }, { signal: ac.signal }), 2, ac);
      await events.subscribed;
      const a = await client.publishKEMToSWM({
        kemToPublish: { content: enc.encode("v1"), metadata: { topic: "AI" } },
        agentId: "writer",
      });
      expect(a.kemId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7/);
      expect([a.publishedToSwm, a.queuedForGlmPersistence]).toEqual([true, false]);
      const b = await client.publishKEMToSWM({
        kemToPublish: { id: a.kemId, content: enc.encode("v2"), metadata: { topic: "ML" } },
        agentId: "writer",
      });
      expect(b.kem!.createdAt).toEqual(a.kem!.createdAt);
      const got = await events;
      expect(got.map((e) => e.eventType)).toEqual([EventType.KEM_PUBLISHED, EventType.KEM_UPDATED]);
      expect(got.map((e) => e.sourceAgentId)).toEqual(["writer", "writer"]);
      expect(got[1]!.sequence).toBe(got[0]!.sequence + 1n);
      expect(new TextDecoder().decode(got[1]!.kemPayload!.content)).toBe("v2");
      const q = await client.querySWM({
        query: { metadataFilters: { topic: { kind: { case: "stringValue", value: "ML" } } } },
      });
      expect(q.kems.map((k) => k.id)).toEqual([a.kemId]);
      expect(
        await codeOf(
          client.publishKEMToSWM({ kemToPublish: { content: enc.encode("x") }, persistToGlmIfNewOrUpdated: true }),
        ),
      ).toBe(Code.FailedPrecondition);
    });

    test("QuerySWM validates: vector/text queries, page size, page tokens; pages newest first", async () => {
      const { client } = await swm();
      for (let i = 0; i < 5; i++)
        await client.publishKEMToSWM({ kemToPublish: { id: `p${i}`, content: enc.encode(`${i}`) } });
      expect(await codeOf(client.querySWM({ query: { embeddingQuery: [1, 0, 0, 0, 0, 0, 0, 0] } }))).toBe(
        Code.InvalidArgument,
      );
      expect(await codeOf(client.querySWM({ query: { textQuery: "semantic" } }))).toBe(Code.InvalidArgument);
      expect(await codeOf(client.querySWM({ pageSize: 1001 }))).toBe(Code.InvalidArgument);
      expect(await codeOf(client.querySWM({ pageSize: -1 }))).toBe(Code.InvalidArgument);
      expect(await codeOf(client.querySWM({ pageToken: "nonsense!" }))).toBe(Code.InvalidArgument);
      const seen: string[] = [];
      let token = "";
      do {
        const page = await client.querySWM({ pageSize: 2, pageToken: token });
        seen.push(...page.kems.map((k) => k.id));
        token = page.nextPageToken;
      } while (token);
      expect(seen).toEqual(["p4", "p3", "p2", "p1", "p0"]);
      const first = await client.querySWM({ pageSize: 2 });
      expect(
        await codeOf(client.querySWM({ pageSize: 2, pageToken: first.nextPageToken, query: { ids: ["p1"] } })),
      ).toBe(Code.InvalidArgument);
    });

    test("LoadKEMsFromGLM loads a GLM query into the working set with GLM's timestamps and emits events", async () => {
      const glm = createTestGlm(tempDir());
      const glmClient = createClient(GlobalLongTermMemoryService, glm.transport);
      await glmClient.batchStoreKEMs({
        kems: Array.from({ length: 30 }, (_, i) => ({
          id: `g${i}`,
          content: enc.encode(`g${i}`),
          metadata: { topic: i < 12 ? "load" : "skip" },
        })),
      });
      const { client } = await swm({ glm: glm.transport });
      const ac = new AbortController();
      const events = take(
        client.subscribeToSWMEvents({ topics: [{ filterCriteria: "metadata.topic=load" }] }, { signal: ac.signal }),
        11,
        ac,
      );
      await events.subscribed;
      const filter = { metadataFilters: { topic: { kind: { case: "stringValue" as const, value: "load" } } } };
      const res = await client.loadKEMsFromGLM({ queryForGlm: filter, limit: 10 });
      expect(res.loadedKemsCount).toBe(10);
      expect(res.loadedKemIds.sort()).toEqual(["g10", "g11", "g2", "g3", "g4", "g5", "g6", "g7", "g8", "g9"]); // newest 10 in GLM
      const again = await client.loadKEMsFromGLM({ queryForGlm: { ids: ["g5"] } });
      expect(again.loadedKemIds).toEqual(["g5"]);
      const got = await events;
      expect(got.slice(0, 10).every((e) => e.eventType === EventType.KEM_PUBLISHED)).toBe(true);
      expect(got.length).toBe(11);
      expect(got[10]!.eventType).toBe(EventType.KEM_UPDATED);
      const cached = await client.querySWM({ query: filter, pageSize: 100 });
      expect(cached.kems.length).toBe(10);
      const [inGlm] = await glm.store.getMany(["g5"]);
      const g5 = cached.kems.find((k) => k.id === "g5")!;
      expect([timestampToMicros(g5.createdAt!), timestampToMicros(g5.updatedAt!)]).toEqual([
        inGlm!.createdAtUs,
        inGlm!.updatedAtUs,
      ]);
      expect(await codeOf(client.loadKEMsFromGLM({ limit: 1001 }))).toBe(Code.InvalidArgument);
      const bare = await swm();
      expect(await codeOf(bare.client.loadKEMsFromGLM({}))).toBe(Code.FailedPrecondition);
      const down = await swm({ glm: glmClientTransport(`http://127.0.0.1:${await freePort()}`) });
      expect(await codeOf(down.client.loadKEMsFromGLM({}))).toBe(Code.Unavailable);
      glm.close();
    });

    test("subscriptions filter by event type, kem_id and metadata; bad topics are InvalidArgument", async () => {
      const { client } = await swm();
      const ac1 = new AbortController();
      const byId = take(
        client.subscribeToSWMEvents(
          { topics: [{ filterCriteria: "kem_id=target", eventTypes: [EventType.KEM_UPDATED] }] },
          { signal: ac1.signal },
        ),
        1,
        ac1,
      );
      const ac2 = new AbortController();
      const byMeta = take(
        client.subscribeToSWMEvents(
          { topics: [{ filterCriteria: "metadata.project_id=alpha" }, { filterCriteria: "kem_id=other" }] },
          { signal: ac2.signal },
        ),
        3,
        ac2,
      );
      await Promise.all([byId.subscribed, byMeta.subscribed]);
      await client.publishKEMToSWM({
        kemToPublish: { id: "target", content: enc.encode("1"), metadata: { project_id: "beta" } },
      });
      await client.publishKEMToSWM({
        kemToPublish: { id: "a1", content: enc.encode("1"), metadata: { project_id: "alpha", n: 1 } },
      });
      await client.publishKEMToSWM({
        kemToPublish: { id: "b1", content: enc.encode("1"), metadata: { project_id: "gamma" } },
      });
      await client.publishKEMToSWM({
        kemToPublish: { id: "target", content: enc.encode("2"), metadata: { project_id: "beta" } },
      });
      await client.publishKEMToSWM({ kemToPublish: { id: "other", content: enc.encode("1") } });
      await client.publishKEMToSWM({
        kemToPublish: { id: "a2", content: enc.encode("1"), metadata: { project_id: "alpha" } },
      });
      const [idEvents, metaEvents] = await Promise.all([byId, byMeta]);
      expect(idEvents.map((e) => [e.eventType, e.kemPayload!.id])).toEqual([[EventType.KEM_UPDATED, "target"]]);
      expect(metaEvents.map((e) => e.kemPayload!.id)).toEqual(["a1", "other", "a2"]);
      for (const bad of [
        { filterCriteria: "project=alpha" },
        { filterCriteria: "metadata.=x" },
        { eventTypes: [EventType.HEARTBEAT] },
      ]) {
        expect(await codeOf(take(client.subscribeToSWMEvents({ topics: [bad] }), 1, new AbortController()))).toBe(
          Code.InvalidArgument,
        );
      }
    });

    test("resume after a sequence replays what was missed; a lost resume point yields RELOAD_REQUIRED", async () => {
      const { client } = await swm({ eventHistory: 10 });
      const first = await client.publishKEMToSWM({ kemToPublish: { id: "r0", content: enc.encode("0") } });
      const ac = new AbortController();
      const [e0] = await take(
        client.subscribeToSWMEvents({ resumeAfterSequence: 0n }, { signal: ac.signal }),
        1,
        new AbortController(),
      );
      expect(e0!.kemPayload!.id).toBe(first.kemId);
      for (let i = 1; i <= 3; i++)
        await client.publishKEMToSWM({ kemToPublish: { id: `r${i}`, content: enc.encode(`${i}`) } });
      const ac2 = new AbortController();
      const missed = await take(
        client.subscribeToSWMEvents({ resumeAfterSequence: e0!.sequence }, { signal: ac2.signal }),
        3,
        ac2,
      );
      expect(missed.map((e) => e.kemPayload!.id)).toEqual(["r1", "r2", "r3"]);
      expect(missed.map((e) => e.sequence)).toEqual([e0!.sequence + 1n, e0!.sequence + 2n, e0!.sequence + 3n]);
      for (let i = 0; i < 300; i++)
        await client.publishKEMToSWM({ kemToPublish: { id: `bulk${i}`, content: enc.encode("b") } });
      const ac3 = new AbortController();
      const [reload] = await take(
        client.subscribeToSWMEvents({ resumeAfterSequence: e0!.sequence }, { signal: ac3.signal }),
        1,
        ac3,
      );
      expect(reload!.eventType).toBe(EventType.RELOAD_REQUIRED);
      ac.abort();
    });

    test('every stream starts with a "subscribed" HEARTBEAT, sent at once', async () => {
      const { client } = await swm({ swmLimits: { heartbeatMs: 60_000 } });
      const ac = new AbortController();
      const t0 = Date.now();
      for await (const e of client.subscribeToSWMEvents({}, { signal: ac.signal })) {
        expect([e.eventType, e.details]).toEqual([EventType.HEARTBEAT, "subscribed"]);
        break;
      }
      expect(Date.now() - t0).toBeLessThan(1000);
      ac.abort();
    });

    test("an idle stream gets a HEARTBEAT per idle interval", async () => {
      const { client } = await swm({ swmLimits: { heartbeatMs: 100 } });
      const ac = new AbortController();
      const t0 = Date.now();
      // After the "subscribed" heartbeat (skipped by take), one heartbeat per idle interval.
      const beats = await take(client.subscribeToSWMEvents({}, { signal: ac.signal }), 2, ac);
      expect(beats.map((e) => [e.eventType, e.sequence])).toEqual([
        [EventType.HEARTBEAT, 0n],
        [EventType.HEARTBEAT, 0n],
      ]);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(190);
    });

    test("a stream beyond maxSubscribers is ResourceExhausted; cancelling a stream ends it and frees its slot", async () => {
      const { client } = await swm({ swmLimits: { heartbeatMs: 100, maxSubscribers: 2 } });
      const hold = [new AbortController(), new AbortController()];
      const streams = hold.map((h) => take(client.subscribeToSWMEvents({}, { signal: h.signal }), 1000, h));
      const held = streams.map((t) => t.catch((e) => e));
      await Promise.all(streams.map((t) => t.subscribed));
      expect(await codeOf(take(client.subscribeToSWMEvents({}), 1, new AbortController()))).toBe(
        Code.ResourceExhausted,
      );
      for (const h of hold) h.abort();
      await Promise.all(held);
      // The server frees a slot when it sees the cancellation: retry the open until it has.
      const again = await waitFor(
        async () => {
          const ac2 = new AbortController();
          return take(client.subscribeToSWMEvents({}, { signal: ac2.signal }), 1, ac2).catch(() => undefined);
        },
        { timeoutMs: 2000, what: "a freed stream slot" },
      );
      expect(again[0]!.eventType).toBe(EventType.HEARTBEAT);
    });

    test("locks: grant with fencing token, renewal by the holder, NOT_AVAILABLE/TIMEOUT for others, owner-only release, expiry, info", async () => {
      const { client } = await swm();
      const a = await client.acquireLock({ resourceId: "res", agentId: "A", leaseDurationMs: 300 });
      expect(a.status).toBe(LockStatus.ACQUIRED);
      expect(a.leaseExpiresAtUnixMs - a.acquiredAtUnixMs).toBe(300n);
      const renew = await client.acquireLock({ resourceId: "res", agentId: "A", leaseDurationMs: 300 });
      expect([renew.status, renew.lockId, renew.fencingToken]).toEqual([
        LockStatus.ALREADY_HELD_BY_YOU,
        a.lockId,
        a.fencingToken,
      ]);
      expect((await client.acquireLock({ resourceId: "res", agentId: "B" })).status).toBe(LockStatus.NOT_AVAILABLE);
      const t0 = Date.now();
      expect((await client.acquireLock({ resourceId: "res", agentId: "B", timeoutMs: 80 })).status).toBe(
        LockStatus.TIMEOUT,
      );
      expect(Date.now() - t0).toBeGreaterThanOrEqual(75);
      const info = await client.getLockInfo({ resourceId: "res" });
      expect([info.isLocked, info.currentHolderAgentId, info.lockId, info.fencingToken]).toEqual([
        true,
        "A",
        a.lockId,
        a.fencingToken,
      ]);
      expect((await client.releaseLock({ resourceId: "res", agentId: "B", lockId: a.lockId })).status).toBe(
        ReleaseStatus.INVALID_LOCK_ID,
      );
      expect((await client.releaseLock({ resourceId: "res", agentId: "A", lockId: "wrong" })).status).toBe(
        ReleaseStatus.INVALID_LOCK_ID,
      );
      // B waits; the lease runs out (no release) and B gets the lock with a larger token.
      const b = await client.acquireLock({ resourceId: "res", agentId: "B", timeoutMs: 2000, leaseDurationMs: 1000 });
      expect(b.status).toBe(LockStatus.ACQUIRED);
      expect(b.fencingToken).toBeGreaterThan(a.fencingToken);
      expect((await client.releaseLock({ resourceId: "res", agentId: "A", lockId: a.lockId })).status).toBe(
        ReleaseStatus.INVALID_LOCK_ID,
      );
      expect((await client.releaseLock({ resourceId: "res", agentId: "B", lockId: b.lockId })).status).toBe(
        ReleaseStatus.RELEASED,
      );
      expect((await client.releaseLock({ resourceId: "res", agentId: "B", lockId: b.lockId })).status).toBe(
        ReleaseStatus.NOT_HELD,
      );
      expect((await client.getLockInfo({ resourceId: "res" })).isLocked).toBe(false);
      for (const bad of [
        { resourceId: "", agentId: "A" },
        { resourceId: "x".repeat(257), agentId: "A" },
        { resourceId: "r", agentId: "" },
        { resourceId: "r", agentId: "A", leaseDurationMs: 50 },
        { resourceId: "r", agentId: "A", leaseDurationMs: 3_600_001 },
        { resourceId: "r", agentId: "A", timeoutMs: -1 },
      ]) {
        expect(await codeOf(client.acquireLock(bad))).toBe(Code.InvalidArgument);
      }
    });

    test("counters: start at 0, add (0 counts as 1, negatives allowed), exact int64, overflow is InvalidArgument", async () => {
      const { client } = await swm();
      expect((await client.getCounter({ counterId: "c" })).currentValue).toBe(0n);
      expect((await client.incrementCounter({ counterId: "c" })).currentValue).toBe(1n);
      expect((await client.incrementCounter({ counterId: "c", incrementBy: -5n })).currentValue).toBe(-4n);
      const big = 2n ** 62n + 1n;
      expect((await client.incrementCounter({ counterId: "big", incrementBy: big })).currentValue).toBe(big);
      expect((await client.incrementCounter({ counterId: "big", incrementBy: 2n ** 62n - 2n })).currentValue).toBe(
        2n ** 63n - 1n,
      );
      expect(await codeOf(client.incrementCounter({ counterId: "big", incrementBy: 1n }))).toBe(Code.InvalidArgument);
      expect((await client.getCounter({ counterId: "big" })).currentValue).toBe(2n ** 63n - 1n);
      expect(await codeOf(client.getCounter({ counterId: "" }))).toBe(Code.InvalidArgument);
    });
  });
}
