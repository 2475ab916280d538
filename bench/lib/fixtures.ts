/**
 * Shared, lazily started resources of a bench run: a real `redis-server` on a free port and real
 * DCSM servers (in-process SWM or SWM on that Redis) started exactly as the tests start them
 * (`tests/helpers/redis-server.ts`, `startDcsmServer` with the committed model). Started on first
 * use, stopped by {@link closeFixtures} at the end of the run.
 * @module
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type DcsmConfig, loadConfig } from "../../runtime/config.ts";
import { type DcsmServer, startDcsmServer } from "../../runtime/server.ts";
import type { Embedder } from "../../services/kps/ports.ts";
import { testEmbedder } from "../../tests/helpers/model.ts";
import { startRedis, type TestRedis } from "../../tests/helpers/redis-server.ts";

const cleanups: (() => Promise<void> | void)[] = [];
const once = new Map<string, Promise<unknown>>();

function shared<T>(key: string, make: () => Promise<T>): Promise<T> {
  let p = once.get(key) as Promise<T> | undefined;
  if (!p) {
    p = make();
    once.set(key, p);
  }
  return p;
}

/** A fresh temporary folder, removed at the end of the run. */
export function benchDir(prefix = "dcsm-bench-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The run's Redis (one `redis-server` on a free port, no persistence). */
export function benchRedis(): Promise<TestRedis> {
  return shared("redis", async () => {
    const r = await startRedis();
    cleanups.push(() => r.stop());
    return r;
  });
}

/** The committed embedding model, loaded once. */
export function benchEmbedder(): Promise<Embedder> {
  return testEmbedder();
}

/** A running DCSM server and its configuration. */
export interface BenchServer {
  server: DcsmServer;
  config: DcsmConfig;
}

/**
 * A full DCSM server on free ports (Connect/gRPC-Web on `Bun.serve`, gRPC on h2c), SWM in process
 * (`"memory"`) or on the run's Redis (`"redis"`), `topic` indexed in SWM, fresh data folder.
 * `DCSM_SWM_WRITE_BEHIND_BATCH` and `DCSM_SWM_WRITE_BEHIND_DELAY_MS` of the bench's environment
 * apply (to measure other write-behind batch sizes); other settings are the defaults.
 */
export function benchServer(swm: "memory" | "redis"): Promise<BenchServer> {
  return shared(`server-${swm}`, async () => {
    const dataDir = benchDir("dcsm-bench-server-");
    const redisUrl = swm === "redis" ? (await benchRedis()).url : "";
    const env = {
      DCSM_SWM_WRITE_BEHIND_BATCH: process.env.DCSM_SWM_WRITE_BEHIND_BATCH,
      DCSM_SWM_WRITE_BEHIND_DELAY_MS: process.env.DCSM_SWM_WRITE_BEHIND_DELAY_MS,
    };
    const config = loadConfig(env, {
      httpPort: 0,
      grpcPort: 0,
      dataDir,
      logLevel: "warn",
      modelOffline: true,
      warmup: "quick",
      redisUrl,
      swmIndexedKeys: ["topic"],
    });
    const server = await startDcsmServer(config, { embedder: await benchEmbedder() });
    cleanups.unshift(() => server.close());
    return { server, config };
  });
}

/** Stops every started resource (servers first, then Redis) and removes temporary folders. */
export async function closeFixtures(): Promise<void> {
  for (const c of cleanups.splice(0)) {
    try {
      await c();
    } catch (err) {
      console.error("bench cleanup failed:", err);
    }
  }
  once.clear();
}
