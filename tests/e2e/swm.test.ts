/**
 * SWM through the real DCSM server (runtime/server.ts) over real sockets: in-process default and
 * REDIS_URL, with write-behind into the server's own GLM.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import type { DcsmServer } from "../../runtime/server.ts";
import { GlobalLongTermMemoryService } from "../../sdk/gen/dcsm/v1/glm_service_pb.ts";
import { EventType, SharedWorkingMemoryService } from "../../sdk/gen/dcsm/v1/swm_service_pb.ts";
import { startRedis, type TestRedis } from "../helpers/redis-server.ts";
import { startTestServer } from "../helpers/server.ts";
import { removeTempDirs } from "../helpers/temp-dir.ts";
import { waitFor } from "../helpers/wait-for.ts";

const enc = new TextEncoder();
let redis: TestRedis;
const servers: DcsmServer[] = [];
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  for (const s of servers) await s.close();
  await redis.stop();
  removeTempDirs();
});

for (const backend of ["in-process", "redis"] as const) {
  describe(`dcsm serve with SWM ${backend}`, () => {
    test("publish with persistence lands in GLM; query, events and counters over Connect", async () => {
      const server = await startTestServer(
        backend === "redis"
          ? { redisUrl: redis.url, swmRedisPrefix: "e2e:", swmIndexedKeys: "topic" }
          : { swmIndexedKeys: "topic" },
      );
      servers.push(server);
      const transport = createConnectTransport({ baseUrl: server.httpUrl, httpVersion: "1.1", useBinaryFormat: true });
      const swm = createClient(SharedWorkingMemoryService, transport);
      const glm = createClient(GlobalLongTermMemoryService, transport);
      const ac = new AbortController();
      const events: EventType[] = [];
      let subscribed = false;
      const reading = (async () => {
        try {
          for await (const e of swm.subscribeToSWMEvents(
            { topics: [{ filterCriteria: "metadata.topic=e2e" }] },
            { signal: ac.signal },
          )) {
            if (e.details === "subscribed") subscribed = true;
            else events.push(e.eventType);
          }
        } catch (err) {
          if (ConnectError.from(err).code !== Code.Canceled) throw err;
        }
      })();
      await waitFor(() => subscribed, { what: "the stream's subscribed event" });
      const pub = await swm.publishKEMToSWM({
        kemToPublish: { content: enc.encode("written behind"), metadata: { topic: "e2e" } },
        persistToGlmIfNewOrUpdated: true,
        agentId: "e2e",
      });
      expect(pub.queuedForGlmPersistence).toBe(true);
      const inGlm = await waitFor(async () => (await glm.retrieveKEMs({ query: { ids: [pub.kemId] } })).kems.length, {
        intervalMs: 50,
        what: "the KEM in GLM",
      });
      expect(inGlm).toBe(1);
      const st = await server.swm.writeBehindStats();
      expect([st.depth, st.persisted]).toEqual([0, 1]);
      const q = await swm.querySWM({
        query: { metadataFilters: { topic: { kind: { case: "stringValue", value: "e2e" } } } },
      });
      expect(q.kems.map((k) => k.id)).toEqual([pub.kemId]);
      expect((await swm.incrementCounter({ counterId: "e2e", incrementBy: 2n })).currentValue).toBe(2n);
      await waitFor(() => events.length >= 2, { what: "two events" });
      expect(events.slice(0, 2)).toEqual([EventType.KEM_PUBLISHED, EventType.KEM_UPDATED]); // the update adopts GLM's version
      ac.abort();
      await reading;
    });
  });
}

test("an event stream idle longer than Bun's 10 s request timeout stays open (heartbeats) and still delivers", async () => {
  const server = await startTestServer({ swmHeartbeatMs: 4000 });
  servers.push(server);
  const swm = createClient(
    SharedWorkingMemoryService,
    createConnectTransport({ baseUrl: server.httpUrl, httpVersion: "1.1" }),
  );
  const ac = new AbortController();
  const got: EventType[] = [];
  const reading = (async () => {
    try {
      for await (const e of swm.subscribeToSWMEvents({}, { signal: ac.signal })) got.push(e.eventType);
    } catch (err) {
      if (ConnectError.from(err).code !== Code.Canceled) throw err;
    }
  })();
  await Bun.sleep(11_000);
  await swm.publishKEMToSWM({ kemToPublish: { content: enc.encode("after a long idle") } });
  await waitFor(() => got.includes(EventType.KEM_PUBLISHED), {
    timeoutMs: 3000,
    what: "KEM_PUBLISHED after the idle period",
  });
  expect(got.filter((t) => t === EventType.HEARTBEAT).length).toBeGreaterThanOrEqual(2);
  expect(got.at(-1)).toBe(EventType.KEM_PUBLISHED);
  ac.abort();
  await reading;
}, 20_000);

test("event streams and locks over real gRPC (HTTP/2 listener)", async () => {
  const server = await startTestServer({ swmHeartbeatMs: 200 });
  servers.push(server);
  const swm = createClient(SharedWorkingMemoryService, createGrpcTransport({ baseUrl: server.grpcUrl }));
  const ac = new AbortController();
  const got: EventType[] = [];
  const reading = (async () => {
    try {
      for await (const e of swm.subscribeToSWMEvents(
        { topics: [{ filterCriteria: "kem_id=grpc-kem" }] },
        { signal: ac.signal },
      ))
        got.push(e.eventType);
    } catch (err) {
      if (ConnectError.from(err).code !== Code.Canceled) throw err;
    }
  })();
  try {
    await waitFor(() => got.includes(EventType.HEARTBEAT), { what: "the stream's first HEARTBEAT" }); // stream is up
    await swm.publishKEMToSWM({ kemToPublish: { id: "grpc-kem", content: enc.encode("over h2") } });
    const lock = await swm.acquireLock({ resourceId: "grpc-res", agentId: "g" });
    expect(lock.fencingToken).toBeGreaterThan(0n);
    await waitFor(() => got.includes(EventType.KEM_PUBLISHED), { what: "KEM_PUBLISHED over gRPC" });
    expect(got).toContain(EventType.HEARTBEAT);
    expect(got).toContain(EventType.KEM_PUBLISHED);
  } finally {
    ac.abort();
    await reading;
  }
});
