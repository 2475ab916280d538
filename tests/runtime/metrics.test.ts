/**
 * Observability (README "Metrics and logs"), end to end over real sockets: `/metrics` scraped over HTTP after calls
 * over Connect, gRPC-Web and gRPC (per-RPC counters and histograms with protocol and code labels,
 * server streams, stats-backed gauges for GLM, embeddings and SWM on both backends), request ids
 * (`x-request-id` echoed, generated, sanitised) and the per-RPC JSON log lines.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Code, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import pino from "pino";
import { loadConfig } from "../../runtime/config.ts";
import { type DcsmServer, startDcsmServer } from "../../runtime/server.ts";
import { GlobalLongTermMemoryService } from "../../sdk/gen/dcsm/v1/glm_service_pb.ts";
import { SharedWorkingMemoryService } from "../../sdk/gen/dcsm/v1/swm_service_pb.ts";
import { createAgentSDK } from "../../sdk/index.ts";
import { testEmbedder } from "../helpers/model.ts";
import { parseMetrics, scrape, value, waitForMetric } from "../helpers/prometheus.ts";
import { startRedis, type TestRedis } from "../helpers/redis-server.ts";
import { removeTempDirs, tempDir } from "../helpers/temp-dir.ts";

const GLM = "dcsm.v1.GlobalLongTermMemoryService";
const SWM = "dcsm.v1.SharedWorkingMemoryService";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const enc = new TextEncoder();

let server: DcsmServer;
const logLines: Record<string, unknown>[] = [];

async function start(overrides: Record<string, unknown> = {}): Promise<DcsmServer> {
  const config = loadConfig(
    {},
    {
      httpPort: 0,
      grpcPort: 0,
      dataDir: tempDir("dcsm-metrics-"),
      logLevel: "debug",
      modelOffline: true,
      warmup: "quick",
      ...overrides,
    },
  );
  const logger = pino({ level: "debug" }, { write: (line: string) => void logLines.push(JSON.parse(line)) });
  return startDcsmServer(config, { embedder: await testEmbedder(), logger });
}

beforeAll(async () => {
  server = await start();
});
afterAll(async () => {
  await server?.close();
  removeTempDirs();
});

const connect = (): Transport => createConnectTransport({ baseUrl: server.httpUrl, httpVersion: "1.1" });
const grpcWeb = (): Transport => createGrpcWebTransport({ baseUrl: server.httpUrl, httpVersion: "1.1" });
const grpc = (): Transport => createGrpcTransport({ baseUrl: server.grpcUrl });
const vector = (seed: number) => Array.from({ length: 384 }, (_, i) => Math.sin(i * 0.37 + seed));
const rpc = (service: string, method: string, protocol: string, code: string) => ({ service, method, protocol, code });

describe("RPC metrics", () => {
  test("count and time each RPC per protocol, with the Connect code name for errors", async () => {
    const before = await scrape(server.httpUrl);
    const glmConnect = createClient(GlobalLongTermMemoryService, connect());
    const ids: string[] = [];
    for (let i = 0; i < 3; i++)
      ids.push((await glmConnect.storeKEM({ kem: { content: enc.encode(`m${i}`), embeddings: vector(i) } })).kem!.id);
    const glmWeb = createClient(GlobalLongTermMemoryService, grpcWeb());
    for (let i = 0; i < 2; i++) expect((await glmWeb.retrieveKEMs({ query: { ids } })).kems.length).toBe(3);
    const swmGrpc = createClient(SharedWorkingMemoryService, grpc());
    for (let i = 0; i < 4; i++) await swmGrpc.incrementCounter({ counterId: "metrics-test" });
    const bad = { kem: { content: enc.encode("x"), embeddings: [1, 2, 3] } };
    await expect(glmConnect.storeKEM(bad)).rejects.toMatchObject({ code: Code.InvalidArgument });
    await expect(createClient(GlobalLongTermMemoryService, grpc()).storeKEM(bad)).rejects.toMatchObject({
      code: Code.InvalidArgument,
    });
    const after = await scrape(server.httpUrl);

    const delta = (name: string, labels: Record<string, string>) =>
      value(after, name, labels) - value(before, name, labels);
    const expected: [Record<string, string>, number][] = [
      [rpc(GLM, "StoreKEM", "connect", "OK"), 3],
      [rpc(GLM, "RetrieveKEMs", "grpc-web", "OK"), 2],
      [rpc(SWM, "IncrementCounter", "grpc", "OK"), 4],
      [rpc(GLM, "StoreKEM", "connect", "InvalidArgument"), 1],
      [rpc(GLM, "StoreKEM", "grpc", "InvalidArgument"), 1],
      [rpc(GLM, "StoreKEM", "grpc-web", "OK"), 0],
    ];
    for (const [labels, n] of expected) {
      expect({ labels, n: delta("dcsm_rpc_requests_total", labels) }).toEqual({ labels, n });
      expect({ labels, n: delta("dcsm_rpc_duration_seconds_count", labels) }).toEqual({ labels, n });
    }
    const storeOk = rpc(GLM, "StoreKEM", "connect", "OK");
    expect(delta("dcsm_rpc_duration_seconds_sum", storeOk)).toBeGreaterThan(0);
    expect(value(after, "dcsm_rpc_duration_seconds_bucket", { ...storeOk, le: "+Inf" })).toBe(
      value(after, "dcsm_rpc_duration_seconds_count", storeOk),
    );
    expect(value(after, "dcsm_rpc_in_flight", { service: GLM, method: "StoreKEM", protocol: "connect" })).toBe(0);

    // One JSON log line per finished RPC, carrying the request id.
    const done = logLines.find((l) => l.msg === "rpc done" && l.rpc === `${GLM}/StoreKEM` && l.protocol === "connect");
    expect(done).toMatchObject({ level: 20, code: "OK" });
    expect(done!.reqId).toMatch(UUID);
    expect(typeof done!.durationMs).toBe("number");
    const failed = logLines.find((l) => l.msg === "rpc failed" && l.rpc === `${GLM}/StoreKEM` && l.protocol === "grpc");
    expect(failed).toMatchObject({ code: "InvalidArgument", message: "kem.embeddings has dimension 3 (expected 384)" });
  });

  test("a server stream is in flight while open and counted when it ends (Canceled, or its error code)", async () => {
    const labels = { service: SWM, method: "SubscribeToSWMEvents", protocol: "connect" };
    const swm = createClient(SharedWorkingMemoryService, connect());
    const ac = new AbortController();
    const stream = swm.subscribeToSWMEvents({ agentId: "watcher" }, { signal: ac.signal });
    const first = (async () => {
      for await (const ev of stream) return ev;
    })();
    await waitForMetric(server.httpUrl, "dcsm_rpc_in_flight", labels, (v) => v === 1);
    await swm.publishKEMToSWM({ kemToPublish: { content: enc.encode("event") }, agentId: "pub" });
    expect(await first).toBeDefined(); // the loop returned: the client closes the stream
    ac.abort();
    const end = await waitForMetric(
      server.httpUrl,
      "dcsm_rpc_requests_total",
      { ...labels, code: "Canceled" },
      (v) => v === 1,
    );
    expect(value(end, "dcsm_rpc_in_flight", labels)).toBe(0);

    // A stream that fails is labelled with its error's code (here over gRPC-Web).
    const web = createClient(SharedWorkingMemoryService, grpcWeb());
    const failing = web.subscribeToSWMEvents({ agentId: "x".repeat(100_000) });
    await expect(
      (async () => {
        for await (const _ of failing) void _;
      })(),
    ).rejects.toMatchObject({ code: Code.InvalidArgument });
    await waitForMetric(
      server.httpUrl,
      "dcsm_rpc_requests_total",
      { ...labels, protocol: "grpc-web", code: "InvalidArgument" },
      (v) => v === 1,
    );
  });
});

describe("request ids", () => {
  const getCounter = (body: object, headers: Record<string, string> = {}) =>
    fetch(`${server.httpUrl}/${SWM}/GetCounter`, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify(body),
    });

  test("an incoming sane x-request-id is echoed and logged; otherwise one is generated", async () => {
    const given = await getCounter({ counterId: "rid" }, { "x-request-id": "req-abc.123" });
    expect(given.status).toBe(200);
    expect(given.headers.get("x-request-id")).toBe("req-abc.123");
    expect(
      logLines.some((l) => l.reqId === "req-abc.123" && l.msg === "rpc done" && l.rpc === `${SWM}/GetCounter`),
    ).toBe(true);
    const generated = await getCounter({ counterId: "rid" });
    expect(generated.headers.get("x-request-id")).toMatch(UUID);
    for (const insane of ["has spaces", "x".repeat(129), 'quote"d']) {
      const res = await getCounter({ counterId: "rid" }, { "x-request-id": insane });
      expect(res.headers.get("x-request-id")).toMatch(UUID);
    }
    const failed = await getCounter({ counterId: "" }, { "x-request-id": "failing-1" });
    expect(failed.status).toBe(400);
    expect(failed.headers.get("x-request-id")).toBe("failing-1");
  });

  test("gRPC and gRPC-Web calls get the id back in their response headers", async () => {
    for (const [transport, id] of [
      [grpc(), "grpc-1"],
      [grpcWeb(), "web-1"],
    ] as const) {
      let echoed: string | null = null;
      await createClient(SharedWorkingMemoryService, transport).getCounter(
        { counterId: "rid" },
        {
          headers: { "x-request-id": id },
          onHeader: (h) => {
            echoed = h.get("x-request-id");
          },
        },
      );
      expect(echoed as string | null).toBe(id);
    }
  });
});

describe("stats gauges", () => {
  test("GLM vector index size equals the KEMs stored; unindexed tail within it", async () => {
    const glm = createClient(GlobalLongTermMemoryService, connect());
    await glm.batchStoreKEMs({
      kems: [0, 1, 2, 3].map((i) => ({ content: enc.encode(`b${i}`), embeddings: vector(100 + i) })),
    });
    const health = (await (await fetch(`${server.httpUrl}/health`)).json()) as { kems: number };
    const m = await scrape(server.httpUrl);
    expect(health.kems).toBeGreaterThanOrEqual(7);
    expect(value(m, "dcsm_glm_vector_index_size", { kind: "hnsw" })).toBe(health.kems);
    const tail = value(m, "dcsm_glm_vector_index_unindexed", { kind: "hnsw" });
    expect(tail).toBeGreaterThanOrEqual(0);
    expect(tail).toBeLessThanOrEqual(health.kems);
  });

  test("embedding queue, batch fill and cache counters move with text queries", async () => {
    const glm = createClient(GlobalLongTermMemoryService, connect());
    const before = await scrape(server.httpUrl);
    const text = `observability of a shared memory ${Math.random()}`;
    await glm.retrieveKEMs({ query: { textQuery: text }, pageSize: 1 });
    await glm.retrieveKEMs({ query: { textQuery: text }, pageSize: 1 }); // same text: from the cache
    const after = await scrape(server.httpUrl);
    const d = (name: string, labels: Record<string, string> = {}) =>
      value(after, name, labels) - value(before, name, labels);
    expect(d("dcsm_embedding_inputs_total")).toBe(1);
    expect(d("dcsm_embedding_batches_total")).toBe(1);
    expect(d("dcsm_embedding_cache_lookups_total", { result: "miss" })).toBe(1);
    expect(d("dcsm_embedding_cache_lookups_total", { result: "hit" })).toBe(1);
    expect(value(after, "dcsm_embedding_queue_depth")).toBe(0);
    expect(value(after, "dcsm_embedding_queue_capacity")).toBe(8192);
    const fill = value(after, "dcsm_embedding_batch_fill_ratio");
    expect(fill).toBeGreaterThan(0);
    expect(fill).toBeLessThanOrEqual(1);
    expect(value(after, "dcsm_embedding_cache_hit_ratio")).toBeGreaterThan(0);
    expect(value(after, "dcsm_embedding_cache_bytes")).toBeGreaterThan(0);
  });

  test("SWM lookups, working set and write-behind; LPA hit ratio stays client-side", async () => {
    const swm = createClient(SharedWorkingMemoryService, connect());
    const before = await scrape(server.httpUrl);
    const pub = await swm.publishKEMToSWM({
      kemToPublish: { content: enc.encode("persist me"), embeddings: vector(7) },
      agentId: "a",
      persistToGlmIfNewOrUpdated: true,
    });
    expect(pub.queuedForGlmPersistence).toBe(true);
    const found = await swm.querySWM({ query: { ids: [pub.kemId, crypto.randomUUID()] } });
    expect(found.kems.length).toBe(1);
    const m = await waitForMetric(
      server.httpUrl,
      "dcsm_swm_write_behind_persisted_total",
      {},
      (v) => v >= value(before, "dcsm_swm_write_behind_persisted_total") + 1,
    );
    const d = (name: string, labels: Record<string, string> = {}) =>
      value(m, name, labels) - value(before, name, labels);
    expect(d("dcsm_swm_lookups_total", { result: "hit" })).toBe(1);
    expect(d("dcsm_swm_lookups_total", { result: "miss" })).toBe(1);
    expect(value(m, "dcsm_swm_lookup_hit_ratio")).toBeGreaterThan(0);
    expect(value(m, "dcsm_swm_working_set_kems")).toBeGreaterThanOrEqual(1);
    expect(value(m, "dcsm_swm_write_behind_queue_depth")).toBe(0);
    expect(value(m, "dcsm_swm_write_behind_oldest_age_seconds")).toBe(0);
    expect(value(m, "dcsm_swm_write_behind_failed_attempts_total")).toBe(0);
    const health = (await (await fetch(`${server.httpUrl}/health`)).json()) as { kems: number };
    expect(value(m, "dcsm_glm_vector_index_size", { kind: "hnsw" })).toBe(health.kems); // the persisted KEM is indexed

    // The agent's LPA counts its own hits: getKem misses locally (SWM answers), then hits locally.
    const sdk = createAgentSDK({ baseUrl: server.httpUrl, agentId: "lpa-agent" });
    expect((await sdk.getKem(pub.kemId))!.id).toBe(pub.kemId);
    expect((await sdk.getKem(pub.kemId))!.id).toBe(pub.kemId);
    expect(sdk.lpa.stats()).toMatchObject({ hits: 1, misses: 1, hitRatio: 0.5, entries: 1 });
    const lpaText = parseMetrics(sdk.lpa.prometheusText({ agent_id: "lpa-agent" }));
    expect(value(lpaText, "dcsm_lpa_lookups_total", { agent_id: "lpa-agent", result: "hit" })).toBe(1);
    const m2 = await scrape(server.httpUrl);
    expect(
      value(m2, "dcsm_swm_lookups_total", { result: "hit" }) - value(m, "dcsm_swm_lookups_total", { result: "hit" }),
    ).toBe(1); // the SWM read-through
  });

  describe("on Redis", () => {
    let redis: TestRedis;
    let onRedis: DcsmServer;
    beforeAll(async () => {
      redis = await startRedis();
      onRedis = await start({ redisUrl: redis.url, logLevel: "warn" });
    });
    afterAll(async () => {
      await onRedis?.close();
      await redis?.stop();
    });

    test("SWM gauges read the Redis working set and queue", async () => {
      const swm = createClient(
        SharedWorkingMemoryService,
        createConnectTransport({ baseUrl: onRedis.httpUrl, httpVersion: "1.1" }),
      );
      const a = await swm.publishKEMToSWM({ kemToPublish: { content: enc.encode("r1") }, agentId: "a" });
      await swm.publishKEMToSWM({ kemToPublish: { content: enc.encode("r2") }, agentId: "a" });
      await swm.querySWM({ query: { ids: [a.kemId, crypto.randomUUID(), crypto.randomUUID()] } });
      const m = await scrape(onRedis.httpUrl);
      expect(value(m, "dcsm_swm_working_set_kems")).toBe(2);
      expect(value(m, "dcsm_swm_lookups_total", { result: "hit" })).toBe(1);
      expect(value(m, "dcsm_swm_lookups_total", { result: "miss" })).toBe(2);
      expect(value(m, "dcsm_swm_lookup_hit_ratio")).toBeCloseTo(1 / 3, 6);
      expect(value(m, "dcsm_swm_write_behind_queue_depth")).toBe(0);
      expect(value(m, "dcsm_rpc_requests_total", rpc(SWM, "PublishKEMToSWM", "connect", "OK"))).toBe(2);
    });
  });
});
