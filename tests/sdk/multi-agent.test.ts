/**
 * Agents in separate processes against one real server with SWM on a real Redis:
 * - coherence: A publishes and updates KEMs, B's LPA reflects every change through events;
 *   the publish → B's-cache latency of each update (p50/p99 over 1,000 updates, or
 *   DCSM_COHERENCE_UPDATES) is printed;
 * - lock contention: N agents increment a value in a shared file under the SDK's scoped lock,
 *   checking fencing tokens; the final value is exact;
 * - a Redis restart (SWM's event log starts over): the LPA is reloaded and later events still
 *   reach it.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createAgentSDK, kemText } from "../../sdk/index.ts";
import { spawnJsonLines } from "../helpers/json-lines-process.ts";
import { startRedis, type TestRedis } from "../helpers/redis-server.ts";
import { startTestServer } from "../helpers/server.ts";
import { removeTempDirs, tempDir } from "../helpers/temp-dir.ts";
import { waitFor } from "../helpers/wait-for.ts";

const UPDATES = Number(process.env.DCSM_COHERENCE_UPDATES ?? 1000);
const FIXTURES = join(import.meta.dir, "fixtures");
let redis: TestRedis;
let server: Awaited<ReturnType<typeof startTestServer>>;

beforeAll(async () => {
  redis = await startRedis();
  server = await startTestServer({ redisUrl: redis.url, swmHeartbeatMs: 200 }); // streams go live on the first heartbeat;
});
afterAll(async () => {
  await server.close();
  await redis.stop();
  removeTempDirs();
});

function agent(args: string[]) {
  return spawnJsonLines(join(FIXTURES, args[0]!), args.slice(1));
}

const pct = (xs: number[], q: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;

test(`two agent processes: B's LPA reflects each of A's ${UPDATES} updates through events`, async () => {
  const b = agent(["coherence-agent.ts", "reader", server.httpUrl]);
  expect(await b.next()).toEqual({ ready: true });
  const a = agent(["coherence-agent.ts", "writer", server.httpUrl, String(UPDATES), "20"]);
  const done = (await a.next()) as { final: Record<string, string> };
  expect(Object.keys(done.final).length).toBe(20);
  b.p.stdin.write(`${JSON.stringify(done.final)}\n`);
  b.p.stdin.flush();
  const r = (await b.next()) as { coherent: boolean; latencies: number[]; events: number; size: number };
  expect(r.coherent).toBe(true);
  expect(r.size).toBe(20);
  expect(r.events).toBe(UPDATES + 20); // every publish and every update arrived, once
  expect(r.latencies.length).toBe(UPDATES); // every update was seen in B's LPA as that exact version
  const p50 = pct(r.latencies, 0.5);
  const p99 = pct(r.latencies, 0.99);
  console.log(
    `coherence latency publish → B's LPA over ${r.latencies.length} updates: p50 ${p50.toFixed(2)} ms, p90 ${pct(r.latencies, 0.9).toFixed(2)} ms, p99 ${p99.toFixed(2)} ms, max ${Math.max(...r.latencies).toFixed(2)} ms`,
  );
  expect(p50).toBeLessThan(1000);
  await Promise.all([a.p.exited, b.p.exited]);
}, 120_000);

test("lock contention: 4 agent processes × 25 guarded increments give exactly 100", async () => {
  const file = join(tempDir("dcsm-lock-"), "shared.json");
  writeFileSync(file, JSON.stringify({ value: 0, fence: "0" }));
  const agents = Array.from({ length: 4 }, (_, i) =>
    agent(["lock-agent.ts", server.httpUrl, `agent-${i}`, "25", file]),
  );
  const results = (await Promise.all(agents.map((x) => x.next()))) as { ok: number; fenced: number }[];
  expect(results.reduce((s, r) => s + r.ok, 0)).toBe(100);
  expect(results.every((r) => r.fenced === 0)).toBe(true); // tokens only grow between grants
  expect(JSON.parse(readFileSync(file, "utf8")).value).toBe(100);
}, 120_000);

test("Redis restart: B's LPA drops what SWM lost and follows the new event log", async () => {
  const a = createAgentSDK({ baseUrl: server.httpUrl, agentId: "ra" });
  const b = createAgentSDK({ baseUrl: server.httpUrl, agentId: "rb" });
  const sub = b.handleSwmEvents({}, () => {}, { reconnectInitialDelayMs: 50, reconnectMaxDelayMs: 200 });
  await sub.ready;
  const [before] = (await a.publishKemsToSwmBatch([{ id: "before-restart", content: "v1" }])).kems;
  for (let i = 2; i <= 5; i++) await a.publishKemsToSwmBatch([{ id: before!.id, content: `v${i}` }]);
  await waitFor(() => kemText(b.lpa.peek(before!.id) ?? { content: new Uint8Array() }) === "v5", {
    timeoutMs: 5000,
    intervalMs: 25,
    what: "v5 in B's LPA",
  });
  const connections = sub.connections;
  await redis.stop(true);
  await redis.restart();
  await waitFor(() => sub.reloads > 0 && !b.lpa.has(before!.id), {
    timeoutMs: 10_000,
    intervalMs: 25,
    what: "reload dropping the lost KEM",
  });
  await waitFor(
    async () => (await a.publishKemsToSwmBatch([{ id: "after-restart", content: "new" }])).failed.length === 0,
    { timeoutMs: 10_000, intervalMs: 25, what: "publish after restart" },
  );
  await waitFor(() => b.lpa.has("after-restart"), {
    timeoutMs: 5000,
    intervalMs: 25,
    what: "the post-restart event in B's LPA",
  });
  expect(sub.reloads).toBe(1);
  expect(sub.connections).toBe(connections); // the stream itself survived; the log behind it was new
  sub.close();
  await sub.done;
}, 60_000);
