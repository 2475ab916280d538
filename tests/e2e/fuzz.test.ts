/**
 * Wire fuzzing over real sockets: ~3000 random and mutated requests on every protocol against one
 * server — Connect JSON and binary and gRPC-Web over HTTP/1.1 fetch, gRPC over HTTP/2 with raw
 * frames, and malformed HTTP/1.1 over raw TCP. Every request must get a proper error (or a
 * success) for its protocol within its timeout, never unknown/internal; the server must answer
 * Health after every batch; and KEMs stored before the fuzzing must come back unchanged.
 *
 * The PRNG seed is printed; rerun a failure with `DCSM_FUZZ_SEED=<seed> bun test tests/e2e/fuzz.test.ts`.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { ClientHttp2Session } from "node:http2";
import {
  create,
  type DescMessage,
  fromBinary,
  type MessageInitShape,
  toBinary,
  toJsonString,
} from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import type { DcsmServer } from "../../runtime/server.ts";
import {
  BatchStoreKEMsRequestSchema,
  GlobalLongTermMemoryService,
  RetrieveKEMsRequestSchema,
  StoreKEMRequestSchema,
} from "../../sdk/gen/dcsm/v1/glm_service_pb.ts";
import type { KEM } from "../../sdk/gen/dcsm/v1/kem_pb.ts";
import { ProcessRawDataRequestSchema } from "../../sdk/gen/dcsm/v1/kps_service_pb.ts";
import {
  GetCounterRequestSchema,
  IncrementCounterRequestSchema,
  PublishKEMToSWMRequestSchema,
  QuerySWMRequestSchema,
} from "../../sdk/gen/dcsm/v1/swm_service_pb.ts";
import {
  HealthCheckRequestSchema,
  HealthCheckResponse_ServingStatus,
  HealthCheckResponseSchema,
} from "../../sdk/gen/grpc/health/v1/health_pb.ts";
import {
  deepJson,
  hostileProto,
  int,
  invalidUtf8Json,
  mutate,
  nestedStructStore,
  pick,
  type Rand,
  randomBytes,
} from "../helpers/fuzz-inputs.ts";
import {
  envelope,
  fetchPost,
  grpcStatusOf,
  h2Post,
  h2Session,
  judge,
  rawHttp,
  type WireResult,
} from "../helpers/fuzz-wire.ts";
import { startTestServer } from "../helpers/server.ts";
import { removeTempDirs } from "../helpers/temp-dir.ts";
import { prng, randomVector } from "../helpers/vectors.ts";

const SEED = Number(process.env.DCSM_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const MAX_MESSAGE = 256 * 1024;
const BATCHES = 30;
const PER_BATCH = 100;
const IN_FLIGHT = 8;
const TIMEOUT_MS = 10_000;
const enc = new TextEncoder();

let server: DcsmServer;
let h2: ClientHttp2Session;
beforeAll(async () => {
  console.log(`fuzz seed ${SEED} (rerun with DCSM_FUZZ_SEED=${SEED})`);
  server = await startTestServer({ maxMessageBytes: MAX_MESSAGE });
  h2 = await h2Session(server.grpcUrl);
});
afterAll(async () => {
  h2?.close();
  await server?.close();
  removeTempDirs();
});

/** A valid request to start mutations from: the method path and its binary and JSON encodings. */
interface Base {
  path: string;
  binary: Uint8Array;
  json: Uint8Array;
}

function base<D extends DescMessage>(path: string, schema: D, init: MessageInitShape<D>): Base {
  const msg = create(schema, init);
  return { path, binary: toBinary(schema, msg), json: enc.encode(toJsonString(schema, msg)) };
}

function bases(rand: Rand): Base[] {
  const kem = (i: number) => ({
    id: `fuzz-base-${i}`,
    content: enc.encode(`base ${i}`),
    metadata: { topic: "fuzz", n: i, ok: true, tags: ["a", "b"] },
    embeddings: randomVector(384, rand),
  });
  const G = "/dcsm.v1.GlobalLongTermMemoryService/";
  const S = "/dcsm.v1.SharedWorkingMemoryService/";
  return [
    base(`${G}StoreKEM`, StoreKEMRequestSchema, { kem: kem(0), idempotencyKey: "fuzz" }),
    base(`${G}StoreKEM`, StoreKEMRequestSchema, { kem: { content: enc.encode("small"), metadata: { a: "b" } } }),
    base(`${G}BatchStoreKEMs`, BatchStoreKEMsRequestSchema, {
      kems: [
        kem(1),
        { content: enc.encode("x") },
        { id: "fuzz-base-2", content: enc.encode("y"), contentType: "text/markdown" },
      ],
    }),
    base(`${G}RetrieveKEMs`, RetrieveKEMsRequestSchema, {
      query: {
        ids: ["fuzz-base-0", "fuzz-base-1"],
        metadataFilters: { topic: { kind: { case: "stringValue", value: "fuzz" } } },
      },
      pageSize: 5,
    }),
    base(`${G}RetrieveKEMs`, RetrieveKEMsRequestSchema, {
      query: { embeddingQuery: randomVector(384, rand), updatedAtStart: { seconds: 1n } },
      pageSize: 3,
    }),
    base(`${G}RetrieveKEMs`, RetrieveKEMsRequestSchema, { query: { textQuery: "locks" }, pageSize: 2 }),
    base(`${S}PublishKEMToSWM`, PublishKEMToSWMRequestSchema, {
      kemToPublish: kem(3),
      agentId: "fuzzer",
      persistToGlmIfNewOrUpdated: true,
    }),
    base(`${S}QuerySWM`, QuerySWMRequestSchema, {
      query: { metadataFilters: { n: { kind: { case: "numberValue", value: 3 } } } },
      pageSize: 10,
    }),
    base(`${S}IncrementCounter`, IncrementCounterRequestSchema, { counterId: "fuzz-counter", incrementBy: 3n }),
    base(`${S}GetCounter`, GetCounterRequestSchema, { counterId: "fuzz-counter" }),
    base("/dcsm.v1.KnowledgeProcessorService/ProcessRawData", ProcessRawDataRequestSchema, {
      rawContent: enc.encode("A short note about locks."),
      sourcePath: "fuzz.txt",
      initialMetadata: { k: 1 },
    }),
  ];
}

type Protocol = "connect-json" | "connect-proto" | "grpc-web" | "grpc";
const CONTENT_TYPE: Record<Protocol, string> = {
  "connect-json": "application/json",
  "connect-proto": "application/proto",
  "grpc-web": "application/grpc-web+proto",
  grpc: "application/grpc+proto",
};

/** One fuzz case: where it goes, what it is (for failure reports), and its body. */
interface Case {
  protocol: Protocol;
  path: string;
  kind: string;
  contentType: string;
  body: Uint8Array;
}

function payloadFor(rand: Rand, b: Base, protocol: Protocol): { kind: string; payload: Uint8Array } {
  const json = protocol === "connect-json";
  const r = rand();
  if (r < 0.5) return { kind: "mutated", payload: mutate(rand, json ? b.json : b.binary) };
  if (r < 0.65) return { kind: "random", payload: randomBytes(rand, int(rand, rand() < 0.9 ? 256 : 8192)) };
  if (r < 0.8) {
    if (!json) return { kind: "hostile-proto", payload: hostileProto(rand) };
    return rand() < 0.5
      ? { kind: "invalid-utf8", payload: invalidUtf8Json(rand) }
      : { kind: "deep-json", payload: enc.encode(deepJson(rand, pick(rand, [100, 1000, 10_000]))) };
  }
  if (r < 0.82)
    return json
      ? { kind: "deep-json", payload: enc.encode(deepJson(rand, 10_000)) }
      : { kind: "nested-struct", payload: nestedStructStore(pick(rand, [200, 2000, 10_000])) };
  if (r < 0.83) return { kind: "oversized", payload: randomBytes(rand, MAX_MESSAGE + 1 + int(rand, 4096)) };
  return { kind: "valid", payload: json ? b.json : b.binary };
}

function makeCase(rand: Rand, all: Base[]): Case {
  const protocol = pick(rand, ["connect-json", "connect-proto", "grpc-web", "grpc"] as const);
  const b = pick(rand, all);
  let { kind, payload } = payloadFor(rand, b, protocol);
  let contentType = CONTENT_TYPE[protocol];
  if (rand() < 0.04) {
    kind += "+wrong-content-type";
    contentType = pick(rand, [
      "text/csv",
      "application/xml",
      "application/grpc+thrift",
      "",
      "multipart/form-data; boundary=x",
    ]);
  }
  let body = payload;
  if (protocol === "grpc-web" || protocol === "grpc") {
    const f = rand();
    if (f < 0.1) {
      kind += "+prefix-too-long";
      body = envelope(payload, payload.length + 1 + int(rand, 1 << 20));
    } else if (f < 0.15) {
      kind += "+prefix-huge";
      body = envelope(payload, 0xffffffff);
    } else if (f < 0.2) {
      kind += "+prefix-short";
      body = envelope(payload, Math.max(0, payload.length - 1 - int(rand, 8)));
    } else if (f < 0.25) {
      kind += "+truncated-frame";
      body = envelope(payload).subarray(0, int(rand, 5 + payload.length));
    } else if (f < 0.28) {
      kind += "+bad-flags";
      body = envelope(payload, payload.length, int(rand, 256));
    } else if (f < 0.31) {
      kind += "+two-frames";
      body = Buffer.concat([envelope(payload), envelope(payload)]);
    } else body = envelope(payload);
  }
  return { protocol, path: b.path, kind, contentType, body };
}

async function send(c: Case): Promise<WireResult> {
  if (c.protocol !== "grpc") return fetchPost(`${server.httpUrl}${c.path}`, c.contentType, c.body, TIMEOUT_MS);
  if (h2.closed || h2.destroyed) h2 = await h2Session(server.grpcUrl);
  return h2Post(h2, c.path, c.contentType, c.body, TIMEOUT_MS);
}

/** Malformed HTTP/1.1 that fetch would refuse to send. */
function rawRequest(rand: Rand, path: string): { kind: string; bytes: Uint8Array } {
  const body = randomBytes(rand, int(rand, 64));
  const head = (lines: string[]) => enc.encode(`${lines.join("\r\n")}\r\n\r\n`);
  switch (int(rand, 7)) {
    case 0:
      return { kind: "raw-garbage", bytes: randomBytes(rand, 1 + int(rand, 512)) };
    case 1:
      return {
        kind: "raw-content-length-over-body",
        bytes: Buffer.concat([
          head([
            `POST ${path} HTTP/1.1`,
            "Host: x",
            "Content-Type: application/proto",
            `Content-Length: ${body.length + 100}`,
          ]),
          body,
        ]),
      };
    case 2:
      return {
        kind: "raw-bad-chunk",
        bytes: Buffer.concat([
          head([`POST ${path} HTTP/1.1`, "Host: x", "Content-Type: application/json", "Transfer-Encoding: chunked"]),
          enc.encode("zz\r\n{}\r\n0\r\n\r\n"),
        ]),
      };
    case 3:
      return {
        kind: "raw-bad-header",
        bytes: head([
          `POST ${path} HTTP/1.1`,
          "Host: x",
          "Content-Type: application/json",
          "Bad Header Line",
          "Content-Length: 0",
        ]),
      };
    case 4:
      return {
        kind: "raw-huge-header",
        bytes: head([`POST ${path} HTTP/1.1`, "Host: x", `X-Big: ${"a".repeat(128 * 1024)}`, "Content-Length: 0"]),
      };
    case 5:
      return {
        kind: "raw-both-lengths",
        bytes: Buffer.concat([
          head([
            `POST ${path} HTTP/1.1`,
            "Host: x",
            "Content-Type: application/proto",
            "Content-Length: 3",
            "Transfer-Encoding: chunked",
          ]),
          enc.encode("3\r\nabc\r\n0\r\n\r\n"),
        ]),
      };
    default:
      return { kind: "raw-bad-request-line", bytes: head([`P\u0000ST ${path}\u0001 HTTP/9.9`, "Host: x"]) };
  }
}

/** gRPC Health over HTTP/2 and /health over HTTP/1.1, both must say serving. */
async function healthy(): Promise<string | undefined> {
  const res = await fetch(`${server.httpUrl}/health`, { signal: AbortSignal.timeout(5000) }).catch((e: Error) => e);
  if (res instanceof Error || res.status !== 200)
    return `HTTP /health: ${res instanceof Error ? res.message : res.status}`;
  if (h2.closed || h2.destroyed) h2 = await h2Session(server.grpcUrl);
  const g = await h2Post(
    h2,
    "/grpc.health.v1.Health/Check",
    CONTENT_TYPE.grpc,
    envelope(toBinary(HealthCheckRequestSchema, create(HealthCheckRequestSchema, {}))),
    5000,
  );
  if (g.trailers["grpc-status"] !== "0" || g.body.length < 5) return `gRPC health: ${JSON.stringify(g.trailers)}`;
  const status = fromBinary(HealthCheckResponseSchema, g.body.subarray(5)).status;
  return status === HealthCheckResponse_ServingStatus.SERVING ? undefined : `gRPC health status ${status}`;
}

async function pool<T>(items: T[], n: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

describe("wire fuzzing", () => {
  test("undecodable protobuf is InvalidArgument on Connect, gRPC-Web and gRPC (connect-es says Internal)", async () => {
    const path = "/dcsm.v1.GlobalLongTermMemoryService/StoreKEM";
    const garbage = Uint8Array.from([0x0a, 0x05, 0x01]); // field 1, 5 bytes promised, 1 present
    const connect = await fetchPost(`${server.httpUrl}${path}`, CONTENT_TYPE["connect-proto"], garbage, TIMEOUT_MS);
    expect(connect.status).toBe(400);
    const err = JSON.parse(new TextDecoder().decode(connect.body)) as { code: string; message: string };
    expect(err.code).toBe("invalid_argument");
    expect(err.message).toStartWith("parse binary: ");
    const web = await fetchPost(`${server.httpUrl}${path}`, CONTENT_TYPE["grpc-web"], envelope(garbage), TIMEOUT_MS);
    expect(grpcStatusOf(web)).toEqual({ code: 3, message: err.message });
    const grpc = await h2Post(h2, path, CONTENT_TYPE.grpc, envelope(garbage), TIMEOUT_MS);
    expect(grpcStatusOf(grpc)).toEqual({ code: 3, message: err.message });
    // Compressed flag without grpc-encoding: also the client's mistake.
    const flagged = await h2Post(h2, path, CONTENT_TYPE.grpc, envelope(garbage, garbage.length, 1), TIMEOUT_MS);
    expect(grpcStatusOf(flagged)?.code).toBe(3);
  });

  test("~3000 random and mutated requests on all protocols: proper errors, no hang, health after every batch, data intact", async () => {
    const rand = prng(SEED);
    const glm = createClient(
      GlobalLongTermMemoryService,
      createConnectTransport({ baseUrl: server.httpUrl, httpVersion: "1.1" }),
    );
    const keep: KEM[] = [];
    for (let i = 0; i < 20; i++) {
      const { kem } = await glm.storeKEM({
        kem: {
          content: enc.encode(`kept ${i} ✓`),
          contentType: "text/plain",
          metadata: { i, team: i % 2 ? "red" : "blue", nested: { deep: [i, "x"] } },
          embeddings: randomVector(384, rand),
        },
      });
      keep.push(kem!);
    }

    const all = bases(rand);
    const failures: string[] = [];
    const tally = new Map<string, number>();
    const started = performance.now();
    let sent = 0;
    for (let batch = 0; batch < BATCHES; batch++) {
      const cases = Array.from({ length: PER_BATCH }, () => makeCase(rand, all));
      await pool(cases, IN_FLIGHT, async (c) => {
        const r = await send(c);
        sent++;
        const outcome =
          r.status === 200 ? (r.trailers["grpc-status"] ?? r.headers["grpc-status"] ?? "200") : String(r.status);
        tally.set(`${c.protocol} ${outcome}`, (tally.get(`${c.protocol} ${outcome}`) ?? 0) + 1);
        const wrong = judge(
          c.protocol === "connect-json" || c.protocol === "connect-proto" ? "connect" : c.protocol,
          r,
        );
        if (wrong) failures.push(`${c.protocol} ${c.path} [${c.kind}, ${c.body.length} bytes]: ${wrong}`);
      });
      // Malformed HTTP/1.1 on raw sockets: a 4xx (or 505) or a closed connection, never a hang or a 5xx.
      const raws = Array.from({ length: 4 }, () => rawRequest(rand, pick(rand, all).path));
      await pool(raws, IN_FLIGHT, async (raw) => {
        const r = await rawHttp("127.0.0.1", Number(new URL(server.httpUrl).port), raw.bytes, TIMEOUT_MS);
        sent++;
        tally.set(`raw ${r.status}`, (tally.get(`raw ${r.status}`) ?? 0) + 1);
        if (r.hang) failures.push(`${raw.kind}: no response before the timeout`);
        // 505 is the HTTP parser's answer to an unknown HTTP version: a client error in substance.
        else if ((r.status >= 500 && r.status !== 505) || (r.status !== 0 && r.status < 400))
          failures.push(`${raw.kind}: status ${r.status}: ${r.raw.slice(0, 200)}`);
      });
      const sick = await healthy();
      if (sick) failures.push(`after batch ${batch}: ${sick}`);
      expect(sick).toBeUndefined();
    }
    const seconds = (performance.now() - started) / 1000;
    console.log(
      `fuzz seed ${SEED}: ${sent} requests in ${seconds.toFixed(1)} s; outcomes ${JSON.stringify(Object.fromEntries([...tally].sort()))}`,
    );
    // Failures grouped by kind (numbers blanked) first, then the first 30 in full.
    const groups = new Map<string, number>();
    for (const f of failures) {
      const key = f.replace(/^\S+ \S+ /, "").replace(/\d+/g, "#");
      groups.set(key, (groups.get(key) ?? 0) + 1);
    }
    expect({
      seed: SEED,
      groups: Object.fromEntries(groups),
      failures: failures.slice(0, 30),
      count: failures.length,
    }).toEqual({ seed: SEED, groups: {}, failures: [], count: 0 });

    // The KEMs stored before the fuzzing are unchanged.
    const got = await glm.retrieveKEMs({ query: { ids: keep.map((k) => k.id) }, pageSize: 20 });
    const byId = new Map(got.kems.map((k) => [k.id, k]));
    for (const k of keep) {
      const now = byId.get(k.id);
      expect(now).toBeDefined();
      expect(now!.content).toEqual(k.content);
      expect(now!.contentType).toBe(k.contentType);
      expect(now!.metadata).toEqual(k.metadata);
      expect(now!.embeddings).toEqual(k.embeddings);
      expect(now!.updatedAt).toEqual(k.updatedAt);
    }
  }, 180_000);
});
