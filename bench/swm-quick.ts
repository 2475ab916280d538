/**
 * Quick SWM timing (not the bench suite): publish and query rates of the SWM service
 * implementation (validation, protobuf mapping, backend; no transport) on the in-process backend
 * and on Redis (a fresh redis-server on a free port), 64 calls in flight. One line also times the
 * in-process Connect router transport, to show what a transport adds per call.
 * `bun bench/swm-quick.ts [kems]`.
 * @module
 */
import { create } from "@bufbuild/protobuf";
import { createClient, createHandlerContext, createRouterTransport } from "@connectrpc/connect";
import { PublishKEMToSWMRequestSchema, QuerySWMRequestSchema, SharedWorkingMemoryService, type QuerySWMRequest } from "../sdk/gen/dcsm/v1/swm_service_pb.ts";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { DEFAULT_KEM_LIMITS } from "../services/shared/limits.ts";
import { createMemorySwmBackend, createRedisSwmBackend, type SwmBackend } from "../services/swm/backends.ts";
import { createSwmService } from "../services/swm/service.ts";
import { startRedis } from "../tests/helpers/redis-server.ts";

const N = Number(process.argv[2] ?? 20_000);
const IN_FLIGHT = 64;
const enc = new TextEncoder();
const str = (v: string) => ({ kind: { case: "stringValue" as const, value: v } });

async function pool(n: number, fn: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
    while (next < n) await fn(next++);
  }));
  return n / ((performance.now() - t0) / 1000);
}

async function run(name: string, backend: SwmBackend): Promise<void> {
  const impl = createSwmService({ ...backend, limits: DEFAULT_KEM_LIMITS });
  const ctx = createHandlerContext({ service: SharedWorkingMemoryService, method: SharedWorkingMemoryService.method.querySWM, protocolName: "bench", requestMethod: "POST", url: "/" });
  const publish = (init: MessageInitShape<typeof PublishKEMToSWMRequestSchema>) => impl.publishKEMToSWM!(create(PublishKEMToSWMRequestSchema, init), ctx) as Promise<unknown>;
  const query = (init: MessageInitShape<typeof QuerySWMRequestSchema>) => impl.querySWM!(create(QuerySWMRequestSchema, init) as QuerySWMRequest, ctx) as Promise<{ kems: unknown[] }>;
  const content = enc.encode("x".repeat(200));
  const emb = Array.from({ length: 384 }, (_, i) => Math.sin(i));
  const rows: [string, number][] = [];
  rows.push(["publish (200 B, no embedding)", await pool(N, (i) => publish({ kemToPublish: { id: `k${i}`, content, metadata: { topic: `t${i % 10}`, n: i } } }))]);
  rows.push(["publish (200 B + 384-d embedding)", await pool(N / 4, (i) => publish({ kemToPublish: { id: `e${i}`, content, embeddings: emb, metadata: { topic: `t${i % 10}`, n: i } } }))]);
  const total = N + N / 4;
  rows.push(["query by id", await pool(5000, (i) => query({ query: { ids: [`k${(i * 7919) % N}`] } }))]);
  rows.push([`query indexed metadata (${total / 10} match), page 20`, await pool(2000, (i) => query({ query: { metadataFilters: { topic: str(`t${i % 10}`) } }, pageSize: 20 }))]);
  rows.push(["query unfiltered, page 20", await pool(2000, () => query({ pageSize: 20 }))]);
  rows.push([`query non-indexed metadata (1 of ${total})`, await pool(50, (i) => query({ query: { metadataFilters: { n: { kind: { case: "numberValue", value: (i * 13) % N } } } } }))]);
  const client = createClient(SharedWorkingMemoryService, createRouterTransport(({ service }) => service(SharedWorkingMemoryService, impl)));
  rows.push(["query by id via the in-process router transport", await pool(2000, (i) => client.querySWM({ query: { ids: [`k${i % N}`] } }))]);
  for (const [what, rate] of rows) console.log(`swm.${name.padEnd(7)} ${what.padEnd(50)} ${Math.round(rate).toString().padStart(8)} ops/s`);
  await backend.close();
}

console.log(`SWM quick bench: ${N} + ${N / 4} KEMs, ${IN_FLIGHT} calls in flight, Bun ${Bun.version}`);
await run("memory", createMemorySwmBackend({ indexedKeys: ["topic"], maxEntries: N * 2 }));
const redis = await startRedis();
try {
  await run("redis", await createRedisSwmBackend({ url: redis.url, indexedKeys: ["topic"] }));
} finally {
  await redis.stop();
}
