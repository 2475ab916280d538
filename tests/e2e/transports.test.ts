/**
 * End to end over real sockets: StoreKEM, RetrieveKEMs, DeleteKEM and ProcessRawData through the
 * Connect (JSON and binary), gRPC-Web and gRPC transports of connect-es, and through @grpc/grpc-js
 * loading the .proto files (an independent gRPC implementation).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { Code, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { REPO_ROOT } from "../../runtime/config.ts";
import type { DcsmServer } from "../../runtime/server.ts";
import { GlobalLongTermMemoryService } from "../../sdk/gen/dcsm/v1/glm_service_pb.ts";
import { KnowledgeProcessorService } from "../../sdk/gen/dcsm/v1/kps_service_pb.ts";
import { SharedWorkingMemoryService } from "../../sdk/gen/dcsm/v1/swm_service_pb.ts";
import { Health, HealthCheckResponse_ServingStatus } from "../../sdk/gen/grpc/health/v1/health_pb.ts";
import { serverPerFile } from "../helpers/server-per-file.ts";
import { tempDir } from "../helpers/temp-dir.ts";

let server: DcsmServer;
serverPerFile((s) => (server = s));

const enc = new TextEncoder();
const dec = new TextDecoder();
const DOC =
  "Distributed locks give one agent exclusive access to a resource.\n\nA fencing token grows with every grant, so a stale holder can be detected.";

const transports: [string, () => Transport][] = [
  ["connect-json", () => createConnectTransport({ baseUrl: server.httpUrl, httpVersion: "1.1" })],
  [
    "connect-binary",
    () => createConnectTransport({ baseUrl: server.httpUrl, httpVersion: "1.1", useBinaryFormat: true }),
  ],
  ["grpc-web", () => createGrpcWebTransport({ baseUrl: server.httpUrl, httpVersion: "1.1" })],
];

describe.each(transports)("over %s", (_name, makeTransport) => {
  test("StoreKEM → RetrieveKEMs (ids, metadata, vector) → DeleteKEM", async () => {
    const transport = makeTransport();
    const glm = createClient(GlobalLongTermMemoryService, transport);
    const tag = `t-${Math.random().toString(36).slice(2)}`;
    const vec = Array.from({ length: 384 }, (_, i) => Math.sin(i + tag.length));
    const { kem } = await glm.storeKEM({
      kem: { content: enc.encode("hello over the wire"), metadata: { tag, n: 3, ok: true }, embeddings: vec },
    });
    expect(kem!.id).toBeTruthy();
    const byId = await glm.retrieveKEMs({ query: { ids: [kem!.id] } });
    expect(dec.decode(byId.kems[0]!.content)).toBe("hello over the wire");
    expect(byId.kems[0]!.metadata).toEqual({ tag, n: 3, ok: true });
    const byMeta = await glm.retrieveKEMs({
      query: { metadataFilters: { tag: { kind: { case: "stringValue", value: tag } } } },
    });
    expect(byMeta.kems.map((k) => k.id)).toEqual([kem!.id]);
    const byVec = await glm.retrieveKEMs({ query: { embeddingQuery: vec }, pageSize: 1 });
    expect(byVec.kems[0]!.id).toBe(kem!.id);
    expect(byVec.scores[0]).toBeCloseTo(1, 4);
    await glm.deleteKEM({ kemId: kem!.id });
    await expect(glm.deleteKEM({ kemId: kem!.id })).rejects.toMatchObject({ code: Code.NotFound });
  });

  test("ProcessRawData chunks, embeds and stores; text_query finds it", async () => {
    const transport = makeTransport();
    const kps = createClient(KnowledgeProcessorService, transport);
    const glm = createClient(GlobalLongTermMemoryService, transport);
    const source = `docs/locks-${Math.random().toString(36).slice(2)}.md`;
    const res = await kps.processRawData({
      rawContent: enc.encode(DOC),
      contentType: "text/markdown",
      sourcePath: source,
      maxChunkChars: 80,
      initialMetadata: { team: "blue" },
    });
    expect(res.success).toBe(true);
    expect(res.kemIds.length).toBe(2);
    const stored = await glm.retrieveKEMs({ query: { ids: res.kemIds } });
    const md = stored.kems
      .map((k) => k.metadata!)
      .sort((a, b) => (a.chunk_index as number) - (b.chunk_index as number));
    expect(md).toMatchObject([
      { source_path: source, chunk_index: 0, chunk_count: 2, start_line: 1, end_line: 1, team: "blue" },
      { source_path: source, chunk_index: 1, chunk_count: 2, start_line: 3, end_line: 3, team: "blue" },
    ]);
    expect(stored.kems.every((k) => k.embeddings.length === 384)).toBe(true);
    const hits = await glm.retrieveKEMs({
      query: {
        textQuery: "token that detects an outdated lock holder",
        metadataFilters: { source_path: { kind: { case: "stringValue", value: source } } },
      },
      pageSize: 2,
    });
    expect(hits.kems[0]!.id).toBe(res.kemIds[1]!);
  });

  test("SWM counts and caches over this transport; health is SERVING", async () => {
    const transport = makeTransport();
    const swm = createClient(SharedWorkingMemoryService, transport);
    const counterId = `c-${crypto.randomUUID()}`;
    expect((await swm.incrementCounter({ counterId, incrementBy: 5n })).currentValue).toBe(5n);
    expect((await swm.incrementCounter({ counterId })).currentValue).toBe(6n);
    expect((await swm.getCounter({ counterId })).currentValue).toBe(6n);
    const pub = await swm.publishKEMToSWM({
      kemToPublish: { content: new TextEncoder().encode("hot"), metadata: { via: counterId } },
      agentId: "e2e",
    });
    const found = await swm.querySWM({ query: { ids: [pub.kemId] } });
    expect(found.kems.map((k) => k.metadata)).toEqual([{ via: counterId }]);
    const health = createClient(Health, transport);
    expect((await health.check({ service: "" })).status).toBe(HealthCheckResponse_ServingStatus.SERVING);
    expect((await health.check({ service: "dcsm.v1.GlobalLongTermMemoryService" })).status).toBe(
      HealthCheckResponse_ServingStatus.SERVING,
    );
    await expect(health.check({ service: "nope.Service" })).rejects.toMatchObject({ code: Code.NotFound });
  });
});

describe("over @grpc/grpc-js with the .proto files", () => {
  type Callback<T> = (err: grpc.ServiceError | null, res: T) => void;
  type Unary = (req: object, cb: Callback<unknown>) => void;
  let glm: Record<string, Unary> & grpc.Client;
  let kps: Record<string, Unary> & grpc.Client;
  let health: Record<string, Unary> & grpc.Client;

  beforeAll(() => {
    const defs = protoLoader.loadSync(
      ["dcsm/v1/glm_service.proto", "dcsm/v1/kps_service.proto", "grpc/health/v1/health.proto"],
      {
        includeDirs: [join(REPO_ROOT, "proto")],
        keepCase: true,
        longs: String,
        enums: String,
        defaults: true,
        oneofs: true,
      },
    );
    const pkg = grpc.loadPackageDefinition(defs) as unknown as {
      dcsm: { v1: Record<string, new (addr: string, creds: grpc.ChannelCredentials) => never> };
      grpc: { health: { v1: Record<string, new (addr: string, creds: grpc.ChannelCredentials) => never> } };
    };
    const addr = server.grpcUrl.replace("http://", "");
    glm = new pkg.dcsm.v1.GlobalLongTermMemoryService!(addr, grpc.credentials.createInsecure());
    kps = new pkg.dcsm.v1.KnowledgeProcessorService!(addr, grpc.credentials.createInsecure());
    health = new pkg.grpc.health.v1.Health!(addr, grpc.credentials.createInsecure());
  });
  afterAll(() => {
    glm?.close();
    kps?.close();
    health?.close();
  });

  const call = <T>(client: Record<string, Unary>, method: string, req: object) =>
    new Promise<T>((resolve, reject) =>
      client[method]!.call(client, req, (err: grpc.ServiceError | null, res: unknown) =>
        err ? reject(err) : resolve(res as T),
      ),
    );

  test("StoreKEM, RetrieveKEMs, DeleteKEM, ProcessRawData and Health", async () => {
    const stored = await call<{ kem: { id: string; metadata: { fields: Record<string, { stringValue: string }> } } }>(
      glm,
      "StoreKEM",
      {
        kem: {
          content: Buffer.from("from grpc-js"),
          content_type: "text/plain",
          metadata: { fields: { origin: { stringValue: "grpc-js" } } },
        },
      },
    );
    const id = stored.kem.id;
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    const got = await call<{
      kems: { id: string; content: Buffer; metadata: { fields: Record<string, { stringValue: string }> } }[];
    }>(glm, "RetrieveKEMs", {
      query: { ids: [id] },
    });
    expect(got.kems[0]!.content.toString()).toBe("from grpc-js");
    expect(got.kems[0]!.metadata.fields.origin!.stringValue).toBe("grpc-js");
    const processed = await call<{ kem_ids: string[]; success: boolean }>(kps, "ProcessRawData", {
      raw_content: Buffer.from("Agents share knowledge through memory units."),
      content_type: "text/plain",
      source_path: "grpc-js.txt",
    });
    expect(processed.success).toBe(true);
    expect(processed.kem_ids.length).toBe(1);
    await call(glm, "DeleteKEM", { kem_id: id });
    const err = await call(glm, "DeleteKEM", { kem_id: id }).catch((e: grpc.ServiceError) => e);
    expect((err as grpc.ServiceError).code).toBe(grpc.status.NOT_FOUND);
    const h = await call<{ status: string }>(health, "Check", { service: "" });
    expect(h.status).toBe("SERVING");
  });

  test("bad input maps to INVALID_ARGUMENT with a clear message", async () => {
    const err = (await call(glm, "StoreKEM", { kem: { content: Buffer.from("x"), embeddings: [1, 2, 3] } }).catch(
      (e) => e,
    )) as grpc.ServiceError;
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(err.details).toBe("kem.embeddings has dimension 3 (expected 384)");
  });
});

describe("over connect-es's gRPC transport from a Node.js agent", () => {
  test("StoreKEM, RetrieveKEMs, ProcessRawData, DeleteKEM and error codes", async () => {
    const outdir = tempDir("dcsm-node-agent-");
    const built = await Bun.build({
      entrypoints: [join(import.meta.dir, "fixtures/grpc-node-agent.ts")],
      target: "node",
      outdir,
    });
    expect(built.success).toBe(true);
    const proc = Bun.spawn(["node", built.outputs[0]!.path, server.grpcUrl], { stdout: "pipe", stderr: "pipe" });
    const [out, err, code] = await Promise.all([
      new Response(proc.stdout).text(),
      new Response(proc.stderr).text(),
      proc.exited,
    ]);
    expect(err).toBe("");
    expect(code).toBe(0);
    const r = JSON.parse(out);
    expect(r.retrievedContent).toBe("from a node agent");
    expect(r.vectorTopId).toBe(r.storedId);
    expect(r.vectorTopScore).toBeCloseTo(1, 4);
    expect(r.processedIds.length).toBe(1);
    expect(r.textTopId).toBe(r.processedIds[0]);
    expect(r.secondDelete).toBe("NotFound");
    expect(r.badDimension).toBe("InvalidArgument");
    expect(r.swm).toEqual({ afterIncrement: "3", read: "3" });
  });
});
