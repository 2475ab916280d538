/**
 * Events across SWM instances and processes on one Redis, slow consumers, and a Redis restart.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import {
  EventType,
  SharedWorkingMemoryService,
  SubscribeToSWMEventsRequestSchema,
  type SWMMemoryEvent,
} from "../../../sdk/gen/dcsm/v1/swm_service_pb.ts";
import { toConnectError } from "../../../services/common/errors.ts";
import { createMemorySwmBackend, createRedisSwmBackend } from "../../../services/swm/backends.ts";
import { createRedisEventLog } from "../../../services/swm/events/redis-event-log.ts";
import { streamEvents } from "../../../services/swm/events/subscription.ts";
import { DEFAULT_SWM_LIMITS } from "../../../services/swm/limits.ts";
import type { SwmEvent } from "../../../services/swm/ports.ts";
import { connectRedis } from "../../../services/swm/redis/connection.ts";
import { createRedisWorkingSet } from "../../../services/swm/working-set/redis.ts";
import { freePort, startRedis } from "../../helpers/redis-server.ts";
import { tempDir } from "../../helpers/temp-dir.ts";
import { swmPerFile } from "./helpers.ts";
import { type SwmProcess, startSwmProcess } from "./process.ts";
import { kem, waitFor } from "./working-set-contract.ts";

const enc = new TextEncoder();
const procs: SwmProcess[] = [];
afterAll(() => {
  for (const p of procs) p.proc.kill(9);
}); // registered before swmPerFile's hooks: the processes go before Redis does
const swm = swmPerFile();

/** Collects events from a client stream in the background until `stop()`. */
function listen(stream: (signal: AbortSignal) => AsyncIterable<SWMMemoryEvent>) {
  const got: SWMMemoryEvent[] = [];
  const state = { subscribed: false };
  const ac = new AbortController();
  const done = (async () => {
    try {
      for await (const e of stream(ac.signal)) {
        if (e.eventType === EventType.HEARTBEAT && e.details === "subscribed") state.subscribed = true;
        else got.push(e);
      }
    } catch (err) {
      if (ConnectError.from(err).code !== Code.Canceled) throw err;
    }
  })();
  return {
    got,
    subscribed: () => state.subscribed,
    stop: async () => {
      ac.abort();
      await done;
    },
  };
}

describe("SWM events across instances", () => {
  test("two SWM instances on one Redis: a publish through A reaches subscribers on A and B with the same sequence; a TTL expiry is announced once", async () => {
    const prefix = `share${Date.now()}:`;
    const mk = () => swm.make("redis", { prefix, indexedKeys: ["team"] });
    const [a, b] = [await mk(), await mk()];
    const onA = listen((signal) => a.client.subscribeToSWMEvents({ agentId: "la" }, { signal }));
    const onB = listen((signal) =>
      b.client.subscribeToSWMEvents({ agentId: "lb", topics: [{ filterCriteria: "metadata.team=blue" }] }, { signal }),
    );
    await waitFor(() => onA.subscribed() && onB.subscribed(), 3000, "both streams subscribed");
    await a.client.publishKEMToSWM({
      kemToPublish: { id: "shared1", content: enc.encode("hi"), metadata: { team: "blue" } },
      agentId: "writer-a",
    });
    await b.client.publishKEMToSWM({
      kemToPublish: { id: "shared2", content: enc.encode("hi"), metadata: { team: "red" } },
      agentId: "writer-b",
    });
    await waitFor(() => onA.got.length === 2 && onB.got.length === 1, 3000, "events on both");
    expect(onB.got[0]!.kemPayload!.id).toBe("shared1");
    expect(onB.got[0]!.sourceAgentId).toBe("writer-a");
    expect(onB.got[0]!.sequence).toBe(onA.got[0]!.sequence);
    expect(onB.got[0]!.eventId).toBe(onA.got[0]!.eventId);
    expect(new TextDecoder().decode(onB.got[0]!.kemPayload!.content)).toBe("hi");
    // Expiry notifications reach both instances; the cleanup script lets only one announce it.
    // (Removal events match metadata topics on indexed keys: "team" is indexed here.)
    const ttl = await createRedisSwmBackend({ url: swm.redisUrl, prefix, kemTtlMs: 150, indexedKeys: ["team"] });
    await ttl.workingSet.put([kem("shortlived", { team: "blue" })], { agentId: "" });
    await waitFor(() => onA.got.some((e) => e.eventType === EventType.KEM_EVICTED), 5000, "KEM_EVICTED");
    await Bun.sleep(300);
    expect(onA.got.filter((e) => e.eventType === EventType.KEM_EVICTED).map((e) => e.kemPayload!.id)).toEqual([
      "shortlived",
    ]);
    expect(onB.got.filter((e) => e.eventType === EventType.KEM_EVICTED).map((e) => e.kemPayload!.id)).toEqual([
      "shortlived",
    ]);
    await ttl.close();
    await onA.stop();
    await onB.stop();
  });

  test("two real SWM server processes on one Redis share events, KEMs and counters over HTTP", async () => {
    const env = {
      REDIS_URL: swm.redisUrl,
      DCSM_SWM_REDIS_PREFIX: `proc${Date.now()}:`,
      DCSM_DATA_DIR: tempDir(),
      DCSM_GLM_URL: `http://127.0.0.1:${await freePort()}`,
      DCSM_SWM_HEARTBEAT_MS: "300",
    };
    const [pa, pb] = await Promise.all([startSwmProcess(env), startSwmProcess(env)]);
    procs.push(pa, pb);
    const client = (url: string) =>
      createClient(SharedWorkingMemoryService, createConnectTransport({ baseUrl: url, httpVersion: "1.1" }));
    const [ca, cb] = [client(pa.url), client(pb.url)];
    const onB = listen((signal) =>
      cb.subscribeToSWMEvents({ topics: [{ filterCriteria: "kem_id=from-a" }] }, { signal }),
    );
    await waitFor(
      () => onB.got.some((e) => e.eventType === EventType.HEARTBEAT),
      3000,
      "a heartbeat on the idle stream",
    );
    await ca.publishKEMToSWM({
      kemToPublish: { id: "from-a", content: enc.encode("cross-process") },
      agentId: "proc-a",
    });
    await waitFor(() => onB.got.some((e) => e.eventType === EventType.KEM_PUBLISHED), 3000, "event on B");
    expect(onB.got.some((e) => e.eventType === EventType.HEARTBEAT)).toBe(true);
    const ev = onB.got.find((e) => e.eventType === EventType.KEM_PUBLISHED)!;
    expect([ev.kemPayload!.id, ev.sourceAgentId]).toEqual(["from-a", "proc-a"]);
    expect((await cb.querySWM({ query: { ids: ["from-a"] } })).kems.length).toBe(1);
    await ca.incrementCounter({ counterId: "x", incrementBy: 7n });
    expect((await cb.getCounter({ counterId: "x" })).currentValue).toBe(7n);
    await onB.stop();
    await Promise.all([pa.stop(), pb.stop()]);
  }, 30_000);

  test("the Redis event reader reads nothing while nobody subscribes; a later live subscriber gets exactly the events after it, a resuming one the history it missed", async () => {
    const prefix = `idle${Date.now()}:`;
    const redis = await connectRedis(swm.redisUrl);
    const ws = await createRedisWorkingSet({ redis, prefix });
    const log = await createRedisEventLog({ redis, prefix, load: (ids) => ws.load(ids), blockMs: 100 });
    const put = async (from: number, to: number) => {
      for (let i = from; i <= to; i++) await ws.put([kem(`e${i}`)], { agentId: "w" });
    };
    const reads = async () => {
      const stats = await redis.cmd<string>(["INFO", "commandstats"]);
      return Number(/cmdstat_xread:calls=(\d+)/.exec(stats)?.[1] ?? 0);
    };
    try {
      await Bun.sleep(300); // the reader has found nobody listening and gone idle
      const readsBefore = await reads();
      await put(1, 5);
      await Bun.sleep(300); // several idle periods: the reader's position is out of date
      expect(await reads()).toBe(readsBefore); // no XREAD at all while idle
      const live: SwmEvent[] = [];
      const sub = await log.subscribe(undefined, (e) => live.push(e));
      await put(6, 8);
      await waitFor(() => live.length >= 3, 3000, "live events after subscribing");
      await Bun.sleep(150);
      expect(live.map((e) => e.kemId)).toEqual(["e6", "e7", "e8"]);
      expect(live.every((e) => e.kem?.id === e.kemId)).toBe(true);
      const last = live.at(-1)!.sequence;
      sub.close();
      await Bun.sleep(300); // idle again
      await put(9, 10);
      const resumed: SwmEvent[] = [];
      const again = await log.subscribe(last, (e) => resumed.push(e));
      expect(again.reloadRequired).toBe(false);
      await put(11, 11);
      await waitFor(() => resumed.length >= 3, 3000, "history and live events after resuming");
      await Bun.sleep(150);
      expect(resumed.map((e) => e.kemId)).toEqual(["e9", "e10", "e11"]);
      expect(resumed.map((e) => e.sequence)).toEqual([last + 1, last + 2, last + 3]);
      again.close();
    } finally {
      await log.close();
      await ws.close();
      await redis.close();
    }
  });

  test("a consumer that falls behind its buffer is dropped with ResourceExhausted; other subscribers get everything", async () => {
    const backend = createMemorySwmBackend();
    const limits = { ...DEFAULT_SWM_LIMITS, subscriberBuffer: 5 };
    const slow = streamEvents(
      backend.events,
      backend.events.epoch,
      create(SubscribeToSWMEventsRequestSchema, {}),
      limits,
      new AbortController().signal,
    );
    const fast: SWMMemoryEvent[] = [];
    const fastGen = streamEvents(
      backend.events,
      backend.events.epoch,
      create(SubscribeToSWMEventsRequestSchema, {}),
      { ...limits, subscriberBuffer: 50 },
      new AbortController().signal,
    );
    // Each stream starts with its "subscribed" heartbeat, sent once it is registered.
    expect((await slow.next()).value!.details).toBe("subscribed");
    expect((await fastGen.next()).value!.details).toBe("subscribed");
    const first = slow.next();
    const pump = (async () => {
      for (let r = await fastGen.next(); !r.done; r = await fastGen.next()) {
        fast.push(r.value);
        if (fast.length === 20) break;
      }
    })();
    await Bun.sleep(10);
    for (let i = 0; i < 20; i++) await backend.workingSet.put([kem(`s${i}`)], { agentId: "" });
    expect((await first).value!.kemPayload!.id).toBe("s0");
    await pump;
    expect(fast.map((e) => e.kemPayload!.id)).toEqual(Array.from({ length: 20 }, (_, i) => `s${i}`));
    let code: Code | undefined;
    try {
      for (let i = 0; i < 10; i++) await slow.next();
    } catch (err) {
      code = toConnectError(err).code;
    }
    expect(code).toBe(Code.ResourceExhausted);
    await fastGen.return(undefined);
  });

  test("a Redis restart: subscribers get RELOAD_REQUIRED, SWM reconnects, re-applies eviction settings and serves again", async () => {
    const own = await startRedis();
    try {
      const s = await swm.make("redis", { redisUrl: own.url, prefix: "rs:" });
      await s.client.publishKEMToSWM({ kemToPublish: { id: "before", content: enc.encode("x") } });
      const sub = listen((signal) => s.client.subscribeToSWMEvents({}, { signal }));
      await waitFor(() => sub.subscribed(), 3000, "the stream subscribed");
      await own.stop(true);
      await own.restart();
      await waitFor(() => sub.got.some((e) => e.eventType === EventType.RELOAD_REQUIRED), 8000, "RELOAD_REQUIRED");
      let published = false;
      await waitFor(
        async () => {
          try {
            await s.client.publishKEMToSWM({ kemToPublish: { id: "after", content: enc.encode("y") } });
            published = true;
            return true;
          } catch (err) {
            expect(ConnectError.from(err).code).toBe(Code.Unavailable);
            return false;
          }
        },
        8000,
        "publish after restart",
      );
      expect(published).toBe(true);
      await waitFor(() => sub.got.some((e) => e.kemPayload?.id === "after"), 3000, "event after restart");
      expect((await s.client.querySWM({})).kems.map((k) => k.id)).toEqual(["after"]);
      expect(await own.cli("CONFIG", "GET", "notify-keyspace-events")).toContain("x");
      await sub.stop();
    } finally {
      await own.stop();
    }
  }, 30_000);
});
