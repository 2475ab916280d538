/**
 * Wire fuzzing over real sockets: ~3000 random and mutated requests on every protocol against one
 * server — Connect JSON and binary and gRPC-Web over HTTP/1.1 fetch, gRPC over HTTP/2 with raw
 * frames, and malformed HTTP/1.1 over raw TCP. Every request must get a proper error (or a
 * success) for its protocol within its timeout, never unknown/internal; the server must answer
 * Health after every batch; and KEMs stored before the fuzzing must come back unchanged.
 *
 * The PRNG seed is printed; rerun a failure with `DCSM_FUZZ_SEED=<seed> bun test tests/e2e/fuzz.test.ts`.
 */
import { describe, expect, test } from "bun:test";
import type { ClientHttp2Session } from "node:http2";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import type { DcsmServer } from "../../runtime/server.ts";
import { GlobalLongTermMemoryService } from "../../sdk/gen/dcsm/v1/glm_service_pb.ts";
import type { KEM } from "../../sdk/gen/dcsm/v1/kem_pb.ts";
import {
  HealthCheckRequestSchema,
  HealthCheckResponse_ServingStatus,
  HealthCheckResponseSchema,
} from "../../sdk/gen/grpc/health/v1/health_pb.ts";
import { bases, type Case, CONTENT_TYPE, MAX_MESSAGE, makeCase, pool, rawRequest } from "../helpers/fuzz-cases.ts";
import { pick } from "../helpers/fuzz-inputs.ts";
import {
  envelope,
  fetchPost,
  fuzzServerPerFile,
  h2Post,
  h2Session,
  judge,
  rawHttp,
  type WireResult,
} from "../helpers/fuzz-wire.ts";
import { prng, randomVector } from "../helpers/vectors.ts";

const SEED = Number(process.env.DCSM_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const BATCHES = 30;
const PER_BATCH = 100;
const IN_FLIGHT = 8;
const TIMEOUT_MS = 10_000;
const enc = new TextEncoder();

let server: DcsmServer;
let h2: ClientHttp2Session;
console.log(`fuzz seed ${SEED} (rerun with DCSM_FUZZ_SEED=${SEED})`);
fuzzServerPerFile(MAX_MESSAGE, (s, h) => {
  server = s;
  h2 = h;
});

async function send(c: Case): Promise<WireResult> {
  if (c.protocol !== "grpc") return fetchPost(`${server.httpUrl}${c.path}`, c.contentType, c.body, TIMEOUT_MS);
  if (h2.closed || h2.destroyed) h2 = await h2Session(server.grpcUrl);
  return h2Post(h2, c.path, c.contentType, c.body, TIMEOUT_MS);
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
describe("wire fuzzing", () => {
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
