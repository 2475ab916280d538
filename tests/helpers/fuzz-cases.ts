/**
 * Fuzz case generators for the wire fuzzing tests (tests/e2e/fuzz*.test.ts): valid base requests
 * for every RPC the fuzzer targets, random and mutated cases derived from them per protocol
 * (payload and gRPC envelope damage), malformed HTTP/1.1 for raw sockets, and a small concurrency
 * pool to send them with. Everything is drawn from a seeded {@link Rand}, so a seed replays a run.
 * @module
 */
import { create, type DescMessage, type MessageInitShape, toBinary, toJsonString } from "@bufbuild/protobuf";
import {
  BatchStoreKEMsRequestSchema,
  RetrieveKEMsRequestSchema,
  StoreKEMRequestSchema,
} from "../../sdk/gen/dcsm/v1/glm_service_pb.ts";
import { ProcessRawDataRequestSchema } from "../../sdk/gen/dcsm/v1/kps_service_pb.ts";
import {
  GetCounterRequestSchema,
  IncrementCounterRequestSchema,
  PublishKEMToSWMRequestSchema,
  QuerySWMRequestSchema,
} from "../../sdk/gen/dcsm/v1/swm_service_pb.ts";
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
} from "./fuzz-inputs.ts";
import { envelope } from "./fuzz-wire.ts";
import { randomVector } from "./vectors.ts";

/** Largest request message the fuzzed server accepts, bytes (its `maxMessageBytes`). */
export const MAX_MESSAGE = 256 * 1024;
const enc = new TextEncoder();

/** A valid request to start mutations from: the method path and its binary and JSON encodings. */
export interface Base {
  path: string;
  binary: Uint8Array;
  json: Uint8Array;
}

function base<D extends DescMessage>(path: string, schema: D, init: MessageInitShape<D>): Base {
  const msg = create(schema, init);
  return { path, binary: toBinary(schema, msg), json: enc.encode(toJsonString(schema, msg)) };
}

/** The valid requests mutations start from, one or more per fuzzed RPC. */
export function bases(rand: Rand): Base[] {
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

/** A wire protocol the fuzzer speaks. */
export type Protocol = "connect-json" | "connect-proto" | "grpc-web" | "grpc";
/** The proper content type of each protocol. */
export const CONTENT_TYPE: Record<Protocol, string> = {
  "connect-json": "application/json",
  "connect-proto": "application/proto",
  "grpc-web": "application/grpc-web+proto",
  grpc: "application/grpc+proto",
};

/** One fuzz case: where it goes, what it is (for failure reports), and its body. */
export interface Case {
  protocol: Protocol;
  path: string;
  kind: string;
  contentType: string;
  body: Uint8Array;
}

/** A payload for `b` on `protocol`: mutated, random, hostile, deep, oversized or valid, with its kind. */
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

/** One random case: a protocol, a base, a payload and (gRPC, gRPC-Web) envelope damage or a wrong content type. */
export function makeCase(rand: Rand, all: Base[]): Case {
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

/** Malformed HTTP/1.1 that fetch would refuse to send. */
export function rawRequest(rand: Rand, path: string): { kind: string; bytes: Uint8Array } {
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

/** Runs `fn` over `items` with at most `n` calls in progress. */
export async function pool<T>(items: T[], n: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}
