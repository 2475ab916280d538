/**
 * SWM cache paths: `PublishKEMToSWM` and `QuerySWM` (by id) on the in-process backend and on Redis,
 * through the service (the handler an RPC reaches, called in process) and through the full RPC
 * stack of a real server (Connect binary over fetch, gRPC over h2c), sequential and with 64 calls
 * in flight.
 *
 * Baselines, measured in the same run:
 * - Redis publish: `redis.raw-multi/publish` — the commands the working set's PUT Lua script runs
 *   for a new KEM (TIME, HMGET, HGETALL/DEL of the reverse index, SADD, HSET ×2, DEL, PEXPIRE,
 *   ZADD ×2, SETNX, INCR, XADD), sent as one MULTI/EXEC by node-redis (the client SWM uses), with
 *   the same key layout, bytes and concurrency. `redis.raw-evalsha/publish` runs the PUT script
 *   itself (the Redis-side floor of our own publish).
 * - Redis query by id: `redis.raw-pipeline/query-by-id` — ZMSCORE + HGETALL (what a by-id query
 *   issues), pipelined by node-redis.
 * - In-process: `swm.raw/indexed-lru-*` — `IndexedLRUCache` set/peek of an equivalent record.
 * - `redis.benchmark/*`: `redis-benchmark` SET (where installed) for the server's own ceiling.
 * @module
 */
import { createClient as createRpcClient } from "@connectrpc/connect";
import { SharedWorkingMemoryService } from "../../sdk/gen/dcsm/v1/swm_service_pb.ts";
import { IndexedLRUCache } from "../../sdk/indexed-lru-cache.ts";
import { createMemorySwmBackend, createRedisSwmBackend } from "../../services/swm/backends.ts";
import { PUT_SCRIPT } from "../../services/swm/working-set/redis-scripts.ts";
import { benchRedis, benchServer } from "../lib/fixtures.ts";
import { compareRuns, pool } from "../lib/measure.ts";
import type { BenchResult } from "../lib/stats.ts";
import { transportFor } from "../lib/transports.ts";
import { evalPublish, rawPublish, rawQuery, rawRedis, redisBenchmark } from "./swm-redis-baselines.ts";
import {
  CONTENT,
  IN_FLIGHT,
  inProcessService,
  metaOf,
  nextIds,
  publishInit,
  publishRun,
  queryRun,
} from "./swm-workload.ts";

export { IN_FLIGHT, publishContext } from "./swm-workload.ts";

/** `swm.publish/redis*`, `swm.query/redis*` and the Redis baselines. */
export async function benchSwmRedis(): Promise<BenchResult[]> {
  const redis = await benchRedis();
  const P = "bench:";
  const backend = await createRedisSwmBackend({ url: redis.url, prefix: P, indexedKeys: ["topic"] });
  const raw = await rawRedis(redis.url);
  const { server } = await benchServer("redis");
  try {
    const svc = inProcessService(backend);
    const publishRaw = rawPublish(raw, "rawbench:");
    const evalPub = evalPublish(raw);
    await raw.sendCommand(["SCRIPT", "LOAD", PUT_SCRIPT]);
    const rpc = {
      "connect-binary": createRpcClient(SharedWorkingMemoryService, transportFor(server, "connect-binary")),
      grpc: createRpcClient(SharedWorkingMemoryService, transportFor(server, "grpc")),
    };
    const published: string[] = [];
    const rawRun = (n: number, k: number) => async () => {
      const ids = nextIds(n, "raw");
      return pool(n, k, (i) => publishRaw(ids[i]!, i));
    };
    const evalRun = (n: number, k: number) => async () => {
      const ids = nextIds(n, "eval");
      return pool(n, k, (i) => evalPub(ids[i]!, i));
    };
    const results: BenchResult[] = [];
    const N = 4000;
    const NS = 600;
    results.push(
      ...(await compareRuns({ name: "redis.raw-multi/publish-64", run: rawRun(N, IN_FLIGHT) }, [
        { name: "swm.publish/redis", run: publishRun(N, IN_FLIGHT, "svc", svc.publish, published), target: 0.6 },
        { name: "redis.raw-evalsha/publish-64", run: evalRun(N, IN_FLIGHT) },
        {
          name: "swm.publish/redis-connect-binary",
          run: publishRun(N, IN_FLIGHT, "cb", (r) => rpc["connect-binary"].publishKEMToSWM(r)),
        },
        { name: "swm.publish/redis-grpc", run: publishRun(N, IN_FLIGHT, "gr", (r) => rpc.grpc.publishKEMToSWM(r)) },
      ])),
    );
    results.push(
      ...(await compareRuns({ name: "redis.raw-multi/publish-seq", run: rawRun(NS, 1) }, [
        { name: "swm.publish/redis-seq", run: publishRun(NS, 1, "svcs", svc.publish) },
        {
          name: "swm.publish/redis-connect-binary-seq",
          run: publishRun(NS, 1, "cbs", (r) => rpc["connect-binary"].publishKEMToSWM(r)),
        },
        { name: "swm.publish/redis-grpc-seq", run: publishRun(NS, 1, "grs", (r) => rpc.grpc.publishKEMToSWM(r)) },
      ])),
    );
    // The server's SWM has its own keys (no prefix); publish a set for the RPC query cases.
    const serverIds = nextIds(1000, "q");
    await pool(serverIds.length, IN_FLIGHT, (i) =>
      rpc["connect-binary"].publishKEMToSWM(publishInit(serverIds[i]!, i)),
    );
    const rpcQuery = (c: (typeof rpc)["grpc"]) => (id: string) => c.querySWM({ query: { ids: [id] }, pageSize: 1 });
    results.push(
      ...(await compareRuns(
        { name: "redis.raw-pipeline/query-by-id-64", run: () => pool(N, IN_FLIGHT, rawQuery(raw, P, published)) },
        [
          { name: "swm.query/redis", run: queryRun(N, IN_FLIGHT, published, svc.query) },
          {
            name: "swm.query/redis-connect-binary",
            run: queryRun(N, IN_FLIGHT, serverIds, rpcQuery(rpc["connect-binary"])),
          },
          { name: "swm.query/redis-grpc", run: queryRun(N, IN_FLIGHT, serverIds, rpcQuery(rpc.grpc)) },
        ],
      )),
    );
    results.push(
      ...(await compareRuns(
        { name: "redis.raw-pipeline/query-by-id-seq", run: () => pool(NS, 1, rawQuery(raw, P, published)) },
        [
          { name: "swm.query/redis-seq", run: queryRun(NS, 1, published, svc.query) },
          {
            name: "swm.query/redis-connect-binary-seq",
            run: queryRun(NS, 1, serverIds, rpcQuery(rpc["connect-binary"])),
          },
          { name: "swm.query/redis-grpc-seq", run: queryRun(NS, 1, serverIds, rpcQuery(rpc.grpc)) },
        ],
      )),
    );
    results.push(...(await redisBenchmark(redis.port)));
    return results;
  } finally {
    await raw.close();
    await backend.close();
  }
}

/** `swm.publish/memory*`, `swm.query/memory*` against `IndexedLRUCache` set/peek of the same records. */
export async function benchSwmMemory(): Promise<BenchResult[]> {
  const backend = createMemorySwmBackend({ indexedKeys: ["topic"], maxEntries: 1_000_000 });
  const { server } = await benchServer("memory");
  try {
    const svc = inProcessService(backend);
    const rpc = {
      "connect-binary": createRpcClient(SharedWorkingMemoryService, transportFor(server, "connect-binary")),
      grpc: createRpcClient(SharedWorkingMemoryService, transportFor(server, "grpc")),
    };
    const cache = new IndexedLRUCache<{ id: string; metadata: Record<string, unknown> }>({
      max: 1_000_000,
      indexedKeys: ["topic"],
      metadataOf: (v) => v.metadata,
    });
    const rawSet = (n: number, k: number) => async () => {
      const ids = nextIds(n, "m");
      const us = Date.now() * 1000;
      return pool(
        n,
        k,
        async (i) =>
          void cache.set(ids[i]!, {
            id: ids[i]!,
            metadata: metaOf(i),
            content: CONTENT,
            contentType: "text/plain",
            embedding: null,
            createdAtUs: us,
            updatedAtUs: us,
          } as never),
      );
    };
    const published: string[] = [];
    const N = 20_000;
    const NR = 4000;
    const NS = 1000;
    const results: BenchResult[] = [];
    results.push(
      ...(await compareRuns({ name: "swm.raw/indexed-lru-set-64", run: rawSet(N, IN_FLIGHT) }, [
        { name: "swm.publish/memory", run: publishRun(N, IN_FLIGHT, "mem", svc.publish, published) },
        {
          name: "swm.publish/memory-connect-binary",
          run: publishRun(NR, IN_FLIGHT, "mcb", (r) => rpc["connect-binary"].publishKEMToSWM(r)),
        },
        { name: "swm.publish/memory-grpc", run: publishRun(NR, IN_FLIGHT, "mgr", (r) => rpc.grpc.publishKEMToSWM(r)) },
      ])),
    );
    results.push(
      ...(await compareRuns({ name: "swm.raw/indexed-lru-set-seq", run: rawSet(NS, 1) }, [
        { name: "swm.publish/memory-seq", run: publishRun(NS, 1, "mems", svc.publish) },
        {
          name: "swm.publish/memory-connect-binary-seq",
          run: publishRun(NS, 1, "mcbs", (r) => rpc["connect-binary"].publishKEMToSWM(r)),
        },
        { name: "swm.publish/memory-grpc-seq", run: publishRun(NS, 1, "mgrs", (r) => rpc.grpc.publishKEMToSWM(r)) },
      ])),
    );
    const serverIds = nextIds(1000, "mq");
    await pool(serverIds.length, IN_FLIGHT, (i) =>
      rpc["connect-binary"].publishKEMToSWM(publishInit(serverIds[i]!, i)),
    );
    const rawPeek = (ids: string[]) => async (i: number) => {
      if (!cache.peek(ids[(i * 7919) % ids.length]!)) throw new Error("miss");
    };
    const cacheIds = [...cache.entries()].slice(0, 1000).map(([k]) => k);
    const rpcQuery = (c: (typeof rpc)["grpc"]) => (id: string) => c.querySWM({ query: { ids: [id] }, pageSize: 1 });
    results.push(
      ...(await compareRuns({ name: "swm.raw/indexed-lru-peek-64", run: () => pool(N, IN_FLIGHT, rawPeek(cacheIds)) }, [
        { name: "swm.query/memory", run: queryRun(N, IN_FLIGHT, published, svc.query) },
        {
          name: "swm.query/memory-connect-binary",
          run: queryRun(NR, IN_FLIGHT, serverIds, rpcQuery(rpc["connect-binary"])),
        },
        { name: "swm.query/memory-grpc", run: queryRun(NR, IN_FLIGHT, serverIds, rpcQuery(rpc.grpc)) },
      ])),
    );
    return results;
  } finally {
    await backend.close();
  }
}
