/**
 * Undecodable protobuf over real sockets: one truncated StoreKEM message on Connect (binary),
 * gRPC-Web and gRPC must be answered InvalidArgument with the same message on each, where
 * connect-es on its own answers Internal; a compressed-flag frame without `grpc-encoding` too.
 */
import { describe, expect, test } from "bun:test";
import type { ClientHttp2Session } from "node:http2";
import type { DcsmServer } from "../../runtime/server.ts";
import { CONTENT_TYPE, MAX_MESSAGE } from "../helpers/fuzz-cases.ts";
import { envelope, fetchPost, fuzzServerPerFile, grpcStatusOf, h2Post } from "../helpers/fuzz-wire.ts";

const TIMEOUT_MS = 10_000;

let server: DcsmServer;
let h2: ClientHttp2Session;
fuzzServerPerFile(MAX_MESSAGE, (s, h) => {
  server = s;
  h2 = h;
});

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
});
