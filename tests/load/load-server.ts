#!/usr/bin/env bun
/**
 * The server side of the load test (README "Overload, measured"), run as a child process so that the server
 * and the 200 agents do not share one event loop: starts one real DCSM server with
 * {@link startTestServer} (both listeners on free ports, a fresh data folder, the committed model),
 * SWM on Redis when `REDIS_URL` is given, else the in-process working set.
 *
 * Protocol on stdio, one JSON object per line: it writes `{"ready":true,"httpUrl","grpcUrl","dimension",...}` once
 * serving; then answers each stdin line `stats` with `{"stats":{...write-behind stats}}`,
 * `drain <ms>` with `{"drained":true|false,"stats":{...}}`, `loop-delay` with
 * `{"loopDelayMs":{...}}` (this process's event-loop delay since the previous `loop-delay`, see
 * loop-delay.ts) and `close` with `{"closed":true}` before
 * exiting. Stdin closing also closes the server.
 * @module
 */
import { createInterface } from "node:readline";
import { startTestServer } from "../helpers/server.ts";
import { removeTempDirs } from "../helpers/temp-dir.ts";
import { sampleLoopDelay } from "./loop-delay.ts";

/**
 * Admission limit of the load-test server: most unary calls in progress, in the process and per
 * principal (the agents all call as the one anonymous principal). `DCSM_MAX_IN_FLIGHT` in the
 * environment overrides it.
 */
export const LOAD_MAX_IN_FLIGHT = 16;

/** Configuration overrides shared by both SWM backends: the metadata keys the agents query by, and admission. */
export const LOAD_SERVER_OVERRIDES = { swmIndexedKeys: "agent,group", logLevel: "warn" } as const;

/** Event-loop lag target of the load-test server's admission, ms (0: off). `DCSM_ADMISSION_LAG_MS` overrides it. */
export const LOAD_ADMISSION_LAG_MS = 0;

function admissionOverrides() {
  const n = Number(process.env.DCSM_MAX_IN_FLIGHT ?? LOAD_MAX_IN_FLIGHT);
  return {
    maxInFlight: n,
    maxInFlightPerPrincipal: n,
    admissionLagMs: Number(process.env.DCSM_ADMISSION_LAG_MS ?? LOAD_ADMISSION_LAG_MS),
  };
}

/**
 * Starts the server and serves the stdio protocol until `close` or end of stdin.
 * @param redisUrl - Redis for SWM, or "" for the in-process working set.
 */
export async function serveForLoad(redisUrl: string): Promise<void> {
  const server = await startTestServer({
    ...LOAD_SERVER_OVERRIDES,
    ...admissionOverrides(),
    ...(redisUrl ? { redisUrl, swmRedisPrefix: "load:" } : {}),
  });
  const say = (o: unknown) => process.stdout.write(`${JSON.stringify(o)}\n`);
  say({
    ready: true,
    httpUrl: server.httpUrl,
    grpcUrl: server.grpcUrl,
    dimension: server.embedder.dimension,
    pid: process.pid,
    backend: redisUrl ? "redis" : "in-process",
  });
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await server.close();
    removeTempDirs();
  };
  const loopDelay = sampleLoopDelay();
  const rl = createInterface({ input: process.stdin });
  for await (const line of rl) {
    const [cmd, arg] = line.trim().split(/\s+/);
    if (cmd === "stats") say({ stats: await server.swm.writeBehindStats() });
    else if (cmd === "loop-delay") say({ loopDelayMs: loopDelay.take() });
    else if (cmd === "drain") {
      const end = Date.now() + Number(arg ?? 30_000);
      let st = await server.swm.writeBehindStats();
      while (st.depth > 0 && Date.now() < end) {
        await Bun.sleep(100);
        st = await server.swm.writeBehindStats();
      }
      say({ drained: st.depth === 0, stats: st });
    } else if (cmd === "close") {
      loopDelay.stop();
      await close();
      say({ closed: true });
      break;
    }
  }
  await close();
  process.exit(0);
}

if (import.meta.main) await serveForLoad(process.env.REDIS_URL ?? "");
