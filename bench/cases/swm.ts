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
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { createHandlerContext, createClient as createRpcClient } from "@connectrpc/connect";
import { createClient as createRedisClient, RESP_TYPES } from "redis";
import {
  PublishKEMToSWMRequestSchema,
  QuerySWMRequestSchema,
  SharedWorkingMemoryService,
} from "../../sdk/gen/dcsm/v1/swm_service_pb.ts";
import { IndexedLRUCache } from "../../sdk/indexed-lru-cache.ts";
import { DEFAULT_KEM_LIMITS } from "../../services/common/limits.ts";
import { createMemorySwmBackend, createRedisSwmBackend, type SwmBackend } from "../../services/swm/backends.ts";
import { createSwmService } from "../../services/swm/service.ts";
import { PUT_SCRIPT } from "../../services/swm/working-set/redis-scripts.ts";
import { benchRedis, benchServer } from "../lib/fixtures.ts";
import { compareRuns, pool, type Sample } from "../lib/measure.ts";
import type { BenchResult } from "../lib/stats.ts";
import { transportFor } from "../lib/transports.ts";

/** Calls in flight for the concurrent cases. */
export const IN_FLIGHT = 64;
const CONTENT = new TextEncoder().encode(
  "A short working-memory note of about two hundred bytes, the size agents exchange while they coordinate on a task. "
    .repeat(2)
    .slice(0, 200),
);
let idSeq = 0;
const nextIds = (n: number, tag: string) => Array.from({ length: n }, () => `${tag}-${(idSeq++).toString(36)}`);
const metaOf = (i: number) => ({ topic: `t${i % 10}`, n: i });

type PublishInit = MessageInitShape<typeof PublishKEMToSWMRequestSchema>;
const publishInit = (id: string, i: number): PublishInit => ({
  agentId: "bench",
  kemToPublish: { id, contentType: "text/plain", content: CONTENT, metadata: metaOf(i) },
});

/** A handler context for calling `publishKEMToSWM` on a service implementation in process (no transport). */
export function publishContext() {
  return createHandlerContext({
    service: SharedWorkingMemoryService,
    method: SharedWorkingMemoryService.method.publishKEMToSWM,
    protocolName: "in-process",
    requestMethod: "POST",
    url: "http://localhost/",
  });
}

function inProcessService(backend: SwmBackend) {
  const impl = createSwmService({ ...backend, limits: DEFAULT_KEM_LIMITS });
  const ctx = publishContext();
  return {
    publish: (init: PublishInit) =>
      impl.publishKEMToSWM!(create(PublishKEMToSWMRequestSchema, init), ctx) as Promise<unknown>,
    query: (id: string) =>
      impl.querySWM!(create(QuerySWMRequestSchema, { query: { ids: [id] }, pageSize: 1 }), ctx) as Promise<{
        kems: unknown[];
      }>,
  };
}

/** Publishes `n` new KEMs with `inFlight` calls outstanding, through `publish`. */
function publishRun(
  n: number,
  inFlight: number,
  tag: string,
  publish: (init: PublishInit) => Promise<unknown>,
  published?: string[],
): () => Promise<Sample> {
  return async () => {
    const ids = nextIds(n, tag);
    published?.push(...ids.slice(0, 1000));
    return pool(n, inFlight, (i) => publish(publishInit(ids[i]!, i)));
  };
}

/** Queries `n` KEMs by id (ids from `ids`, cycled) with `inFlight` calls outstanding. */
function queryRun(
  n: number,
  inFlight: number,
  ids: string[],
  query: (id: string) => Promise<{ kems: unknown[] }>,
): () => Promise<Sample> {
  return () =>
    pool(n, inFlight, async (i) => {
      const r = await query(ids[(i * 7919) % ids.length]!);
      if (r.kems.length !== 1) throw new Error("query by id missed");
    });
}

/** A node-redis client with SWM's options (binary bulk strings where the working set reads them). */
async function rawRedis(url: string) {
  const client = createRedisClient({ url });
  await client.connect();
  return client;
}

/** The commands the PUT script runs for a new KEM with one indexed key, as one MULTI/EXEC. */
function rawPublish(client: Awaited<ReturnType<typeof rawRedis>>, P: string) {
  const content = Buffer.from(CONTENT);
  return async (id: string, i: number) => {
    const us = Date.now() * 1000;
    const md = metaOf(i);
    const kem = `${P}swm_kem:${id}`;
    const ref = `${P}swm_ref:${id}`;
    const iso = new Date(us / 1000).toISOString();
    const json = JSON.stringify(md);
    await client
      .multi()
      .addCommand(["TIME"])
      .addCommand(["HMGET", kem, "created_at_us", "updated_at_us"])
      .addCommand(["HGETALL", ref])
      .addCommand(["DEL", ref])
      .addCommand(["SADD", `${P}swm_idx:meta:topic:${md.topic}`, id])
      .addCommand(["HSET", ref, "topic", md.topic])
      .addCommand(["DEL", kem])
      .addCommand([
        "HSET",
        kem,
        "id",
        id,
        "content_type",
        "text/plain",
        "content",
        content,
        "metadata",
        json,
        "created_at",
        iso,
        "updated_at",
        iso,
        "created_at_ts",
        String(Math.floor(us / 1e6)),
        "updated_at_ts",
        String(Math.floor(us / 1e6)),
        "created_at_us",
        String(us),
        "updated_at_us",
        String(us),
      ])
      .addCommand(["PEXPIRE", kem, "2592000000"])
      .addCommand(["ZADD", `${P}swm_idx:date:created_at`, String(us), id])
      .addCommand(["ZADD", `${P}swm_idx:date:updated_at`, String(us), id])
      .addCommand(["SETNX", `${P}swm_events:seq`, String(us)])
      .addCommand(["INCR", `${P}swm_events:seq`])
      .addCommand([
        "XADD",
        `${P}swm_events`,
        "MAXLEN",
        "~",
        "10000",
        "*",
        "k",
        "published",
        "id",
        id,
        "a",
        "bench",
        "t",
        String(Math.floor(us / 1000)),
        "d",
        "",
        "m",
        json,
        "u",
        String(us),
      ])
      .exec();
  };
}

/** Runs `redis-benchmark` SET against the run's Redis; none when it is not installed. */
async function redisBenchmark(port: number): Promise<BenchResult[]> {
  if (!Bun.which("redis-benchmark")) return [];
  const out: BenchResult[] = [];
  for (const [name, extra] of [
    ["redis.benchmark/set-c64", []],
    ["redis.benchmark/set-c64-P16", ["-P", "16"]],
  ] as const) {
    const p = Bun.spawn(
      [
        "redis-benchmark",
        "-p",
        String(port),
        "-c",
        String(IN_FLIGHT),
        "-n",
        "100000",
        "-t",
        "set",
        "-d",
        "200",
        "-r",
        "100000",
        "--csv",
        ...extra,
      ],
      { stdout: "pipe", stderr: "ignore" },
    );
    const text = await new Response(p.stdout).text();
    await p.exited;
    const line = text.split("\n").find((l) => l.startsWith('"SET"'));
    const cols = line?.split(",").map((c) => Number(c.replaceAll('"', "")));
    if (cols && Number.isFinite(cols[1]))
      out.push({ case: name, n: 100000, opsPerSec: cols[1]!, p50Ms: cols[5], p99Ms: cols[7] });
  }
  return out;
}

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
    const evalPublish = async (id: string, i: number) => {
      const md = metaOf(i);
      await raw.sendCommand([
        "EVALSHA",
        sha1(PUT_SCRIPT),
        "0",
        "evalbench:",
        "put",
        id,
        "text/plain",
        Buffer.from(CONTENT),
        JSON.stringify(md),
        "",
        "2592000000",
        "bench",
        "",
        "10000",
        "",
        "",
        "",
        "topic",
        md.topic,
      ]);
    };
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
      return pool(n, k, (i) => evalPublish(ids[i]!, i));
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
    const bin = { typeMapping: { [RESP_TYPES.BLOB_STRING]: Buffer } } as never;
    const rawQuery = (prefix: string, ids: string[]) => async (i: number) => {
      const id = ids[(i * 7919) % ids.length]!;
      const [, h] = await Promise.all([
        raw.sendCommand(["ZMSCORE", `${prefix}swm_idx:date:updated_at`, id]),
        raw.sendCommand(["HGETALL", `${prefix}swm_kem:${id}`], bin),
      ]);
      if (!h) throw new Error("raw query missed");
    };
    const rpcQuery = (c: (typeof rpc)["grpc"]) => (id: string) => c.querySWM({ query: { ids: [id] }, pageSize: 1 });
    results.push(
      ...(await compareRuns(
        { name: "redis.raw-pipeline/query-by-id-64", run: () => pool(N, IN_FLIGHT, rawQuery(P, published)) },
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
        { name: "redis.raw-pipeline/query-by-id-seq", run: () => pool(NS, 1, rawQuery(P, published)) },
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

function sha1(text: string): string {
  return new Bun.CryptoHasher("sha1").update(text).digest("hex");
}
