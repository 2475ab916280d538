/**
 * Bad input over real sockets: each case gets the right Connect code and a clear message, and the
 * server keeps serving (and keeps the data stored before) afterwards.
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { REPO_ROOT } from "../../runtime/config.ts";
import type { DcsmServer } from "../../runtime/server.ts";
import { GlobalLongTermMemoryService } from "../../sdk/gen/dcsm/v1/glm_service_pb.ts";
import { KnowledgeProcessorService } from "../../sdk/gen/dcsm/v1/kps_service_pb.ts";
import { createTransformersEmbedder } from "../../services/kps/embedder/transformers-embedder.ts";
import { serverPerFile } from "../helpers/server-per-file.ts";
import { tempDir } from "../helpers/temp-dir.ts";

const MAX_MESSAGE = 64 * 1024;
let server: DcsmServer;
serverPerFile((s) => (server = s), { maxMessageBytes: MAX_MESSAGE });

const enc = new TextEncoder();

async function failure(p: Promise<unknown>): Promise<{ code: Code; message: string }> {
  try {
    await p;
  } catch (err) {
    const ce = ConnectError.from(err);
    return { code: ce.code, message: ce.rawMessage };
  }
  throw new Error("expected the call to fail");
}

describe("bad input", () => {
  test("each bad request gets the right code and a clear message; data survives", async () => {
    const transport = createConnectTransport({ baseUrl: server.httpUrl, httpVersion: "1.1" });
    const glm = createClient(GlobalLongTermMemoryService, transport);
    const kps = createClient(KnowledgeProcessorService, transport);
    const { kem: keep } = await glm.storeKEM({ kem: { content: enc.encode("stored before the abuse") } });

    expect(await failure(glm.storeKEM({ kem: { content: enc.encode("x"), embeddings: [0.1, 0.2] } }))).toEqual({
      code: Code.InvalidArgument,
      message: "kem.embeddings has dimension 2 (expected 384)",
    });
    expect(await failure(glm.retrieveKEMs({ query: { embeddingQuery: [1] } }))).toEqual({
      code: Code.InvalidArgument,
      message: "query.embedding_query has dimension 1 (expected 384)",
    });
    expect(await failure(glm.updateKEM({ kemId: "no-such-kem", kemDataUpdate: { content: enc.encode("y") } }))).toEqual(
      {
        code: Code.NotFound,
        message: "KEM no-such-kem not found",
      },
    );
    expect(await failure(glm.deleteKEM({ kemId: "no-such-kem" }))).toMatchObject({ code: Code.NotFound });
    expect(await failure(glm.storeKEM({ kem: { content: new Uint8Array() } }))).toEqual({
      code: Code.InvalidArgument,
      message: "kem.content is empty",
    });
    expect(await failure(kps.processRawData({ rawContent: new Uint8Array() }))).toEqual({
      code: Code.InvalidArgument,
      message: "raw_content is empty",
    });
    expect(await failure(kps.processRawData({ rawContent: enc.encode(" \n\t ") }))).toMatchObject({
      code: Code.InvalidArgument,
    });
    expect(await failure(kps.processRawData({ rawContent: new Uint8Array([0xc3, 0x28]) }))).toEqual({
      code: Code.InvalidArgument,
      message: "raw_content is not valid UTF-8 text",
    });
    expect(await failure(kps.processRawData({ rawContent: enc.encode("x"), contentType: "image/png" }))).toMatchObject({
      code: Code.InvalidArgument,
    });
    expect(await failure(glm.retrieveKEMs({ query: { textQuery: "a", embeddingQuery: [1] } }))).toMatchObject({
      code: Code.InvalidArgument,
    });

    // Oversize message on Connect and gRPC-Web: ResourceExhausted, nothing stored.
    const before = (await glm.retrieveKEMs({ pageSize: 1000 })).kems.length;
    const huge = { kem: { content: new Uint8Array(MAX_MESSAGE + 10).fill(97) } };
    expect((await failure(glm.storeKEM(huge))).code).toBe(Code.ResourceExhausted);
    const web = createClient(
      GlobalLongTermMemoryService,
      createGrpcWebTransport({ baseUrl: server.httpUrl, httpVersion: "1.1" }),
    );
    expect((await failure(web.storeKEM(huge))).code).toBe(Code.ResourceExhausted);
    expect((await glm.retrieveKEMs({ pageSize: 1000 })).kems.length).toBe(before);

    // Malformed JSON on the Connect protocol: HTTP 400 with a Connect error body.
    const url = `${server.httpUrl}/dcsm.v1.GlobalLongTermMemoryService/StoreKEM`;
    for (const body of [
      '{"kem": {"content": ',
      '{"kem": {"embeddings": "not an array"}}',
      "[[[[[[[[[[]]]]]]]]]]",
      "\u0000\u0001",
    ]) {
      const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body });
      expect(res.status).toBe(400);
      const err = (await res.json()) as { code: string; message: string };
      expect(err.code).toBe("invalid_argument");
      expect(err.message.length).toBeGreaterThan(0);
    }
    // Wrong content type: 415, not a crash.
    const wrong = await fetch(url, { method: "POST", headers: { "content-type": "text/csv" }, body: "a,b" });
    expect(wrong.status).toBe(415);

    // Still serving, data intact.
    const got = await glm.retrieveKEMs({ query: { ids: [keep!.id] } });
    expect(new TextDecoder().decode(got.kems[0]!.content)).toBe("stored before the abuse");
  });

  test("oversize message over gRPC (grpc-js): RESOURCE_EXHAUSTED", async () => {
    const defs = protoLoader.loadSync(["dcsm/v1/glm_service.proto"], {
      includeDirs: [join(REPO_ROOT, "proto")],
      keepCase: true,
    });
    const pkg = grpc.loadPackageDefinition(defs) as unknown as {
      dcsm: {
        v1: {
          GlobalLongTermMemoryService: new (
            a: string,
            c: grpc.ChannelCredentials,
          ) => grpc.Client & {
            StoreKEM: (req: { kem: { content: Buffer } }, cb: (e: grpc.ServiceError | null) => void) => void;
          };
        };
      };
    };
    const client = new pkg.dcsm.v1.GlobalLongTermMemoryService(
      server.grpcUrl.replace("http://", ""),
      grpc.credentials.createInsecure(),
    );
    const err = await new Promise<grpc.ServiceError>((resolve) =>
      client.StoreKEM({ kem: { content: Buffer.alloc(MAX_MESSAGE + 10, 97) } }, (e: grpc.ServiceError | null) =>
        resolve(e!),
      ),
    );
    client.close();
    expect(err?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
  });

  test("a missing model is a clear error naming what was looked for", async () => {
    const dir = tempDir();
    const err = await createTransformersEmbedder({
      modelId: "no-such-model",
      modelDir: dir,
      allowDownload: false,
    }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toContain(join(dir, "no-such-model", "onnx", "model_quantized.onnx"));
    expect((err as Error).message).toContain("no-such-model");
  });
});
