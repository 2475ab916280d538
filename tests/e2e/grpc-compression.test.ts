/**
 * Response compression on the gRPC listener, over a real HTTP/2 socket with a client that accepts
 * gzip: response messages under `COMPRESS_MIN_BYTES` (64 KiB) are sent uncompressed (envelope
 * flag 0), larger ones gzip (flag 1)
 * (runtime/host/grpc-listener.ts; why: docs/overload.md).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { connect as h2Connect } from "node:http2";
import { create, toBinary } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { COMPRESS_MIN_BYTES } from "../../runtime/host/grpc-listener.ts";
import type { DcsmServer } from "../../runtime/server.ts";
import { QuerySWMRequestSchema, SharedWorkingMemoryService } from "../../sdk/gen/dcsm/v1/swm_service_pb.ts";
import { startTestServer } from "../helpers/server.ts";
import { removeTempDirs } from "../helpers/temp-dir.ts";

let server: DcsmServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server?.close();
  removeTempDirs();
});

/** Calls QuerySWM for `id` over a raw HTTP/2 stream accepting gzip; returns the response message envelope's flags byte (1: compressed). */
async function responseFlags(id: string): Promise<number> {
  const session = h2Connect(server.grpcUrl);
  try {
    const msg = toBinary(QuerySWMRequestSchema, create(QuerySWMRequestSchema, { query: { ids: [id] } }));
    const frame = new Uint8Array(5 + msg.byteLength);
    new DataView(frame.buffer).setUint32(1, msg.byteLength);
    frame.set(msg, 5);
    const stream = session.request({
      ":method": "POST",
      ":path": `/${SharedWorkingMemoryService.typeName}/QuerySWM`,
      "content-type": "application/grpc",
      te: "trailers",
      "grpc-accept-encoding": "gzip",
    });
    stream.end(frame);
    const chunks: Buffer[] = [];
    for await (const c of stream) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    expect(body.byteLength).toBeGreaterThan(5);
    return body[0]!;
  } finally {
    session.close();
  }
}

test("gRPC response messages under 64 KiB are not compressed, larger ones are", async () => {
  const swm = createClient(SharedWorkingMemoryService, createGrpcTransport({ baseUrl: server.grpcUrl }));
  const text = (n: number) => new TextEncoder().encode("agent memory ".repeat(Math.ceil(n / 13)).slice(0, n));
  await swm.publishKEMToSWM({ kemToPublish: { id: "small", content: text(8 * 1024) } });
  await swm.publishKEMToSWM({ kemToPublish: { id: "large", content: text(COMPRESS_MIN_BYTES + 1024) } });
  expect(await responseFlags("small")).toBe(0);
  expect(await responseFlags("large")).toBe(1);
});
