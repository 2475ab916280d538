/**
 * SWM write-behind drain rate into GLM: a real server's SWM (in-process backend with its SQLite
 * queue, or Redis with its stream queue) gets `N` KEMs with 384-dim embeddings published with
 * `persist_to_glm_if_new_or_updated` (64 in flight, handler called in process), and the clock
 * stops when its worker has stored all of them in GLM (batches of `DCSM_SWM_WRITE_BEHIND_BATCH`,
 * default 100). Baselines: raw `bun:sqlite` inserts of the same rows in transactions of that size,
 * and for Redis also a composite of the raw queue commands and that insert (see `compositeRun`);
 * and, without a target, raw `bun:sqlite` doing every write GLM's schema asks per KEM
 * (`rawGlmWrites`), to show how much of the gap is GLM's indexing rather than the pipeline.
 * Each result's extra figures give the publish phase (wall time, per-publish p50/p99) and
 * `cpuUsPerKem`: this process's CPU time (all its threads: the HNSW graph worker too, not the Redis
 * server) per KEM over the timed run, which a loaded machine inflates far less than wall time.
 * Every timed run (baselines included) starts once the bench servers' HNSW graphs have caught up:
 * the graph is built on a worker thread after GLM has stored the KEMs, and one run's graph
 * building would otherwise land on the next run.
 * The raw baselines are in `write-behind-baselines.ts`. Also the KPS outbox drain (`benchKpsOutbox`).
 * @module
 */
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { createConnectTransport } from "@connectrpc/connect-node";
import { PublishKEMToSWMRequestSchema } from "../../sdk/gen/dcsm/v1/swm_service_pb.ts";
import { connectRedis } from "../../services/swm/redis/connection.ts";
import { encodeRecord } from "../../services/write-behind/codec.ts";
import { createSqlitePersistQueue } from "../../services/write-behind/sqlite-queue.ts";
import { createWriteBehindWorker } from "../../services/write-behind/worker.ts";
import { type BenchServer, benchDir, benchRedis, benchServer } from "../lib/fixtures.ts";
import { compareRuns, pool, type Sample } from "../lib/measure.ts";
import { type BenchResult, median, percentile, spreadOf } from "../lib/stats.ts";
import { IN_FLIGHT, publishContext } from "./swm.ts";
import {
  CONTENT,
  compositeRun,
  type Item,
  items,
  N,
  rawGlmWrites,
  rawQueueAndGlmWrites,
  rawSqlite,
  recordOf,
} from "./write-behind-baselines.ts";

const round2 = (x: number) => Math.round(x * 100) / 100;

/** CPU µs of this process per KEM since `c0`. */
function cpuPerKem(c0: NodeJS.CpuUsage): number {
  const c = process.cpuUsage(c0);
  return Math.round((c.user + c.system) / N);
}

/** Times `fn` over the N rows it is given, wall and CPU. */
async function timedRows(fn: (rows: Item[]) => void | Promise<void>): Promise<Sample> {
  const rows = items();
  await Promise.all(idleServers().map((s) => s.vectorIndexIdle()));
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await fn(rows);
  return { n: N, wallMs: performance.now() - t0, extra: { cpuUsPerKem: cpuPerKem(c0) } };
}

/** Servers whose background index work every timed run waits out before it starts. */
const servers = new Set<BenchServer["server"]>();
const idleServers = () => [...servers];
/** Waits until every bench server's HNSW graph has caught up. */
const waitIdle = () => Promise.all(idleServers().map((s) => s.vectorIndexIdle()));

/** Publishes N KEMs with write-behind and waits until the worker has persisted them all. */
export function drainRun({ server }: BenchServer): () => Promise<Sample> {
  servers.add(server);
  const impl = server.swm.service;
  const ctx = publishContext();
  return async () => {
    // The callers' requests are built before the clock starts: their construction (embeddings as
    // `number[]`) is the client's work, which the raw baselines do not do either.
    const requests = items().map((it) =>
      create(PublishKEMToSWMRequestSchema, {
        agentId: "bench",
        persistToGlmIfNewOrUpdated: true,
        kemToPublish: {
          id: it.id,
          contentType: "text/plain",
          content: CONTENT,
          metadata: it.metadata,
          embeddings: Array.from(it.embedding),
        },
      }),
    );
    // The previous runs' HNSW graph building (this server's or the other's) finishes first: it
    // runs on a worker thread after GLM has stored the KEMs and would otherwise land on this run.
    await Promise.all(idleServers().map((s) => s.vectorIndexIdle()));
    const before = (await server.swm.writeBehindStats()).persisted;
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const published = await pool(N, IN_FLIGHT, (i) => impl.publishKEMToSWM!(requests[i]!, ctx) as Promise<unknown>);
    const publishedMs = performance.now() - t0;
    const deadline = Date.now() + 120_000;
    for (;;) {
      const s = await server.swm.writeBehindStats();
      if (s.persisted - before >= N && s.depth === 0) break;
      if (s.rejected > 0) throw new Error(`write-behind rejected ${s.rejected} KEMs`);
      if (Date.now() > deadline) throw new Error(`write-behind did not drain: ${JSON.stringify(s)}`);
      await Bun.sleep(5);
    }
    const lat = published.latenciesMs!.sort((a, b) => a - b);
    const wallMs = performance.now() - t0;
    return {
      n: N,
      wallMs,
      extra: {
        publishMs: Math.round(publishedMs),
        publishP50Ms: round2(percentile(lat, 50)),
        publishP99Ms: round2(percentile(lat, 99)),
        cpuUsPerKem: cpuPerKem(c0),
      },
    };
  };
}

/**
 * `swm.write-behind/{memory,redis}` against `sqlite.raw-insert/wb-<batch>` and, for Redis, the
 * composite `redis+sqlite.raw-queue/wb-<batch>` (reported as `swm.write-behind/redis:composite`).
 * Targets: memory ≥ 50% and Redis ≥ 25% of the raw insert, Redis ≥ 50% of the composite.
 */
export async function benchWriteBehind(): Promise<BenchResult[]> {
  const mem = await benchServer("memory");
  const red = await benchServer("redis");
  const batchSize = mem.config.swmWriteBehindBatch;
  const dir = benchDir();
  const sqlite = rawSqlite(dir);
  const glmRows = rawGlmWrites(dir);
  const queueAndGlm = rawQueueAndGlmWrites(dir, glmRows);
  const redis = await connectRedis((await benchRedis()).url);
  const rawRun = () =>
    timedRows((rows) => {
      for (let i = 0; i < rows.length; i += batchSize) sqlite.insert(rows.slice(i, i + batchSize));
    });
  const composite = `redis+sqlite.raw-queue/wb-${batchSize}`;
  const glmWrites = `sqlite.raw-glm-writes/wb-${batchSize}`;
  const rawGlmRun = () =>
    timedRows((rows) => {
      for (let i = 0; i < rows.length; i += batchSize) glmRows.insert(rows.slice(i, i + batchSize));
    });
  const memoryFloor = `sqlite.raw-queue+glm-writes/wb-${batchSize}`;
  const redisFloor = `redis+sqlite.raw-queue+glm-writes/wb-${batchSize}`;
  const memoryFloorRun = async () => {
    const rows = items();
    const payloads = rows.map((it) => encodeRecord(recordOf(it)));
    await Promise.all(idleServers().map((s) => s.vectorIndexIdle()));
    const t0 = performance.now();
    queueAndGlm.run(rows, payloads, batchSize);
    return { n: N, wallMs: performance.now() - t0 };
  };
  try {
    const results = await compareRuns({ name: `sqlite.raw-insert/wb-${batchSize}`, run: rawRun }, [
      { name: composite, run: () => compositeRun(redis, sqlite, batchSize, waitIdle) },
      { name: glmWrites, run: rawGlmRun },
      { name: memoryFloor, run: memoryFloorRun },
      { name: redisFloor, run: () => compositeRun(redis, glmRows, batchSize, waitIdle) },
      { name: "swm.write-behind/memory", run: drainRun(mem), target: 0.5 },
      { name: "swm.write-behind/redis", run: drainRun(red), target: 0.25 },
    ]);
    const against = (name: string, baseName: string, target?: number) => {
      const base = results.find((r) => r.case === baseName)!;
      const wb = results.find((r) => r.case === name)!;
      const ratios = wb.runs!.map((x, i) => x / base.runs![i]!);
      const { target: _, ...rest } = wb;
      return {
        ...rest,
        baseline: baseName,
        baselineOpsPerSec: base.opsPerSec,
        ratio: median(ratios),
        ratioSpread: spreadOf(ratios),
        ...(target === undefined ? {} : { target }),
      };
    };
    results.push({ ...against("swm.write-behind/redis", composite, 0.5), case: "swm.write-behind/redis:composite" });
    results.push({ ...against("swm.write-behind/memory", glmWrites), case: "swm.write-behind/memory:glm-writes" });
    results.push({ ...against("swm.write-behind/redis", glmWrites), case: "swm.write-behind/redis:glm-writes" });
    results.push({ ...against("swm.write-behind/memory", memoryFloor), case: "swm.write-behind/memory:floor" });
    results.push({ ...against("swm.write-behind/redis", redisFloor), case: "swm.write-behind/redis:floor" });
    results.push({ ...against(redisFloor, composite), case: `${redisFloor}:composite` });
    return results;
  } finally {
    sqlite.close();
    queueAndGlm.close();
    glmRows.close();
    await redis.close();
  }
}

/**
 * `kps.outbox/drain`: KPS's durable outbox (the SQLite write-behind queue in `kps-outbox.sqlite`
 * when GLM is remote) holding N KEMs with 384-d embeddings, drained by a write-behind worker into
 * a real GLM server over Connect binary (HTTP/1.1, as `runtime/kps-sink.ts` connects); the clock
 * runs from the worker's start until GLM has them all. Baseline: the raw SQLite insert.
 */
export async function benchKpsOutbox(): Promise<BenchResult[]> {
  const { server, config } = await benchServer("memory");
  const batchSize = config.swmWriteBehindBatch;
  const dir = benchDir();
  const sqlite = rawSqlite(dir);
  const queue = createSqlitePersistQueue({ path: join(dir, "kps-outbox.sqlite") });
  const glm = createConnectTransport({ baseUrl: server.httpUrl, httpVersion: "1.1", useBinaryFormat: true });
  const rawRun = () =>
    timedRows((rows) => {
      for (let i = 0; i < rows.length; i += batchSize) sqlite.insert(rows.slice(i, i + batchSize));
    });
  const drain = async (): Promise<Sample> => {
    await queue.enqueue(items().map(recordOf));
    await server.vectorIndexIdle();
    const t0 = performance.now();
    const worker = createWriteBehindWorker({ queue, glm, batchSize, maxDelayMs: config.swmWriteBehindDelayMs });
    try {
      const deadline = Date.now() + 120_000;
      for (;;) {
        const s = await worker.stats();
        if (s.persisted >= N && s.depth === 0) break;
        if (s.rejected > 0) throw new Error(`outbox drain rejected ${s.rejected} KEMs`);
        if (Date.now() > deadline) throw new Error(`outbox did not drain: ${JSON.stringify(s)}`);
        await Bun.sleep(5);
      }
      return { n: N, wallMs: performance.now() - t0 };
    } finally {
      await worker.stop();
    }
  };
  try {
    return await compareRuns({ name: `sqlite.raw-insert/outbox-${batchSize}`, run: rawRun }, [
      { name: "kps.outbox/drain", run: drain },
    ]);
  } finally {
    await queue.close();
    sqlite.close();
  }
}
