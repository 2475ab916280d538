/**
 * Redis restarts under load: an SWM server process on a real redis-server
 * serves writers and readers continuously while Redis is killed and started again, empty, on the
 * same port (no persistence: everything cached is lost).
 *
 * What "consistent afterwards" means here, and is asserted:
 * - during the outage SWM calls fail fast with `Unavailable`, never another code, never hang;
 * - SWM reconnects by itself; calls succeed again shortly after Redis answers;
 * - the working set holds exactly what was written after the restart (nothing older survives,
 *   nothing acknowledged after it is missing) and each KEM is its last acknowledged version;
 * - the indexes agree with it: the updated_at and created_at sorted sets and the metadata sets
 *   hold exactly the cached KEMs (no dangling ids, nothing unindexed), and QuerySWM by metadata,
 *   by date range and unfiltered returns exactly the matching cached KEMs;
 * - an SDK subscription opened before the restart keeps the agent's local memory coherent
 *   without reopening: it gets RELOAD_REQUIRED, drops what SWM lost, and ends equal to SWM.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { EventType, SharedWorkingMemoryService } from "../../../sdk/gen/dcsm/v1/swm_service_pb.ts";
import { createAgentSDK, kemText } from "../../../sdk/index.ts";
import { connectRedis, type RedisConnection } from "../../../services/swm/redis/connection.ts";
import { startRedis, type TestRedis } from "../../helpers/redis-server.ts";
import { removeTempDirs, tempDir } from "../../helpers/temp-dir.ts";
import { waitFor } from "../../helpers/wait-for.ts";
import { type SwmProcess, startSwmProcess } from "./process.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const PREFIX = "load:";
const TOPICS = ["red", "green", "blue"];
let redis: TestRedis;
let swm: SwmProcess;
beforeAll(async () => {
  redis = await startRedis();
  swm = await startSwmProcess({
    REDIS_URL: redis.url,
    DCSM_SWM_REDIS_PREFIX: PREFIX,
    DCSM_SWM_INDEXED_KEYS: "topic",
    DCSM_SWM_HEARTBEAT_MS: "200",
    DCSM_GLM_URL: "http://127.0.0.1:9", // not used: nothing is persisted
    DCSM_DATA_DIR: tempDir("dcsm-redis-load-"),
  });
});
afterAll(async () => {
  await swm?.stop();
  await redis?.stop();
  removeTempDirs();
});

/** Outcome counters of the load loops. */
interface Tally {
  ok: number;
  codes: Map<string, number>;
  maxMs: number;
}

function record(t: Tally, ms: number, err?: unknown): void {
  t.maxMs = Math.max(t.maxMs, ms);
  if (err === undefined) return void t.ok++;
  const ce = ConnectError.from(err);
  const code = Code[ce.code] ?? "?";
  if (ce.code !== Code.Unavailable && t.codes.get(code) === undefined)
    console.log(`unexpected ${code}: ${ce.rawMessage}`);
  t.codes.set(code, (t.codes.get(code) ?? 0) + 1);
}

/** Reads what is in Redis: cached ids (with metadata), both date indexes, the metadata sets. */
async function redisState(r: RedisConnection) {
  const keys: string[] = [];
  let cursor = "0";
  do {
    const [next, batch] = await r.cmd<[string, string[]]>([
      "SCAN",
      cursor,
      "MATCH",
      `${PREFIX}swm_kem:*`,
      "COUNT",
      "1000",
    ]);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== "0");
  const cached = new Map<string, string>();
  for (const k of keys)
    cached.set(
      k.slice(`${PREFIX}swm_kem:`.length),
      JSON.parse((await r.cmd<string>(["HGET", k, "metadata"])) ?? "{}").topic,
    );
  const updated = await r.cmd<string[]>(["ZRANGE", `${PREFIX}swm_idx:date:updated_at`, "0", "-1"]);
  const created = await r.cmd<string[]>(["ZRANGE", `${PREFIX}swm_idx:date:created_at`, "0", "-1"]);
  const byTopic = new Map<string, string[]>();
  for (const t of TOPICS) byTopic.set(t, await r.cmd<string[]>(["SMEMBERS", `${PREFIX}swm_idx:meta:topic:${t}`]));
  return { cached, updated, created, byTopic };
}

test("Redis killed and restarted empty under load: Unavailable during the outage, reconnect, consistent indexes, coherent subscriber", async () => {
  const client = createClient(
    SharedWorkingMemoryService,
    createConnectTransport({ baseUrl: swm.url, httpVersion: "1.1", useBinaryFormat: true }),
  );
  const sdk = createAgentSDK({ baseUrl: swm.url, agentId: "watcher", lpa: { maxEntries: 10_000 } });
  const special: string[] = [];
  const sub = sdk.handleSwmEvents(
    {},
    (ev) => void (ev.eventType === EventType.RELOAD_REQUIRED && special.push(`reload at ${Date.now()}: ${ev.details}`)),
    { reconnectInitialDelayMs: 50, reconnectMaxDelayMs: 200 },
  );
  await sub.ready;
  const connectionsBefore = sub.connections;

  const writes: Tally = { ok: 0, codes: new Map(), maxMs: 0 };
  const reads: Tally = { ok: 0, codes: new Map(), maxMs: 0 };
  /** Last acknowledged content per id, and the content of a write that failed after it (unknown outcome). */
  const acked = new Map<string, { content: string; atMs: number }>();
  const attempted = new Map<string, string>();
  let phase: "before" | "down" | "after" = "before";
  const failedDuring = { before: 0, down: 0, after: 0 };
  let running = true;
  let version = 0;

  const writer = async (w: number) => {
    for (let i = 0; running; i++) {
      const id = `w${w}-${i % 100}`;
      const content = `v${++version} ${id}`;
      attempted.set(id, content);
      const t0 = performance.now();
      try {
        await client.publishKEMToSWM(
          {
            kemToPublish: {
              id,
              content: enc.encode(content),
              metadata: { topic: TOPICS[i % TOPICS.length]!, writer: w },
            },
            agentId: `writer-${w}`,
          },
          { timeoutMs: 10_000 },
        );
        record(writes, performance.now() - t0);
        acked.set(id, { content, atMs: Date.now() });
      } catch (err) {
        record(writes, performance.now() - t0, err);
        failedDuring[phase]++;
        await Bun.sleep(20);
      }
    }
  };
  const reader = async (r: number) => {
    for (let i = 0; running; i++) {
      const t0 = performance.now();
      try {
        if (r === 0)
          await client.querySWM(
            {
              query: { metadataFilters: { topic: { kind: { case: "stringValue", value: TOPICS[i % 3]! } } } },
              pageSize: 50,
            },
            { timeoutMs: 10_000 },
          );
        else
          await client.querySWM(
            { query: { updatedAtStart: timestampFromMs(Date.now() - 500) }, pageSize: 50 },
            { timeoutMs: 10_000 },
          );
        record(reads, performance.now() - t0);
      } catch (err) {
        record(reads, performance.now() - t0, err);
        await Bun.sleep(20);
      }
    }
  };
  const load = Promise.all([0, 1, 2, 3].map(writer).concat([0, 1].map(reader)));

  await Bun.sleep(1000);
  // KEMs written only before the restart: lost with Redis, so the subscriber must drop them.
  const lostIds = Array.from({ length: 20 }, (_, i) => `lost-${i}`);
  for (const id of lostIds)
    await client.publishKEMToSWM({ kemToPublish: { id, content: enc.encode(id), metadata: { topic: "red" } } });
  await waitFor(() => lostIds.every((id) => sdk.lpa.has(id)), {
    timeoutMs: 5000,
    intervalMs: 25,
    what: "the pre-restart KEMs in the subscriber's LPA",
  });
  const writesBefore = writes.ok;
  phase = "down";
  const tDown = performance.now();
  await redis.stop(true);
  await Bun.sleep(1500);
  const restartAt = Date.now();
  await redis.restart();
  const tUp = performance.now();
  // Recovery: the first publish acknowledged after Redis answers again.
  let recoveredMs = -1;
  while (recoveredMs < 0) {
    const last = [...acked.values()].some((a) => a.atMs > restartAt);
    if (last) recoveredMs = performance.now() - tUp;
    else if (performance.now() - tUp > 10_000) throw new Error("SWM did not recover within 10 s of the Redis restart");
    else await Bun.sleep(5);
  }
  phase = "after";
  await Bun.sleep(1500);
  running = false;
  await load;
  const marker = await sdk.publishKemsToSwmBatch([{ id: "final-marker", content: "end" }]);
  expect(marker.failed).toEqual([]);

  // 1. Only Unavailable, no hang (the client deadline would show as DeadlineExceeded).
  expect([...writes.codes.keys(), ...reads.codes.keys()].every((c) => c === "Unavailable")).toBe(true);
  expect(writes.codes.get("Unavailable") ?? 0).toBeGreaterThan(0);
  expect(failedDuring.before).toBe(0);
  expect(Math.max(writes.maxMs, reads.maxMs)).toBeLessThan(2000);
  expect(writesBefore).toBeGreaterThan(50);

  // 2. The working set and every index agree, and hold only post-restart writes.
  const r = await connectRedis(redis.url);
  try {
    const s = await redisState(r);
    const expectIds = [...acked.entries()].filter(([, a]) => a.atMs > restartAt).map(([id]) => id);
    // Each acknowledged-after-restart id is cached; an id cached without such an ack can only be
    // a write whose answer was lost in the reconnect (its attempted content).
    for (const id of expectIds) expect(s.cached.has(id)).toBe(true);
    expect(new Set(s.updated)).toEqual(new Set(s.cached.keys()));
    expect(new Set(s.created)).toEqual(new Set(s.cached.keys()));
    for (const t of TOPICS)
      expect(new Set(s.byTopic.get(t))).toEqual(
        new Set([...s.cached].filter(([, topic]) => topic === t).map(([id]) => id)),
      );

    // QuerySWM agrees with Redis: unfiltered, by indexed metadata, by date range.
    const all = await client.querySWM({ pageSize: 1000 });
    expect(all.kems.map((k) => k.id).sort()).toEqual([...s.cached.keys()].sort());
    for (const k of all.kems) {
      if (k.id === "final-marker") continue;
      const text = dec.decode(k.content);
      expect(text === acked.get(k.id)?.content || text === attempted.get(k.id)).toBe(true);
    }
    for (const t of TOPICS) {
      const q = await client.querySWM({
        query: { metadataFilters: { topic: { kind: { case: "stringValue", value: t } } } },
        pageSize: 1000,
      });
      expect(q.kems.map((k) => k.id).sort()).toEqual(
        [...s.cached]
          .filter(([, topic]) => topic === t)
          .map(([id]) => id)
          .sort(),
      );
    }
    const recent = await client.querySWM({
      query: { updatedAtStart: timestampFromMs(restartAt - 60_000) },
      pageSize: 1000,
    });
    expect(recent.kems.length).toBe(s.cached.size);

    // 3. The subscriber opened before the restart followed it: reload, then the new log.
    await waitFor(() => sdk.lpa.has("final-marker"), {
      timeoutMs: 5000,
      intervalMs: 25,
      what: "the marker in the subscriber's LPA",
    });
    if (sub.reloads === 0)
      console.log("no reload", {
        special,
        connections: sub.connections,
        restartAt,
        lpa: sdk.lpa.ids().length,
        cached: s.cached.size,
      });
    expect(sub.reloads).toBeGreaterThanOrEqual(1);
    const lpaIds = new Set(sdk.lpa.ids());
    for (const id of lostIds) expect(s.cached.has(id)).toBe(false);
    expect(lpaIds).toEqual(new Set(s.cached.keys()));
    for (const k of all.kems) expect(kemText(sdk.lpa.peek(k.id)!)).toBe(dec.decode(k.content));
    console.log(
      `Redis restart under load: outage ${(tUp - tDown).toFixed(0)} ms (kill → PONG), first acknowledged publish ${recoveredMs.toFixed(0)} ms after PONG; ` +
        `writes ok ${writes.ok}, Unavailable ${writes.codes.get("Unavailable") ?? 0} (max latency ${writes.maxMs.toFixed(0)} ms); reads ok ${reads.ok}, Unavailable ${reads.codes.get("Unavailable") ?? 0}; ` +
        `cached after ${s.cached.size}; subscriber reloads ${sub.reloads}, stream reconnects ${sub.connections - connectionsBefore}`,
    );
  } finally {
    await r.close();
    sub.close();
    await sub.done;
  }
}, 60_000);
