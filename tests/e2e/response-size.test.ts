/**
 * Response size bounds over real sockets (docs/storage.md "Response size"): RetrieveKEMs and
 * QuerySWM pages end early at the byte budget with a next page token, and paging on returns every
 * KEM once; a response over the message limit is refused with ResourceExhausted, on Connect,
 * gRPC-Web and gRPC.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Code, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import type { DcsmServer } from "../../runtime/server.ts";
import { GlobalLongTermMemoryService } from "../../sdk/gen/dcsm/v1/glm_service_pb.ts";
import { SharedWorkingMemoryService } from "../../sdk/gen/dcsm/v1/swm_service_pb.ts";
import { codeOf } from "../helpers/connect-code.ts";
import { startTestServer } from "../helpers/server.ts";
import { removeTempDirs } from "../helpers/temp-dir.ts";

const KIB = 1024;
let server: DcsmServer;

beforeAll(async () => {
  // 100 KiB KEMs; pages of at most 350 KiB (three KEMs); messages of at most 512 KiB.
  server = await startTestServer({ maxResponseBytes: 350 * KIB, maxMessageBytes: 512 * KIB });
  const glm = createClient(
    GlobalLongTermMemoryService,
    createConnectTransport({ baseUrl: server.httpUrl, httpVersion: "1.1" }),
  );
  const swm = createClient(
    SharedWorkingMemoryService,
    createConnectTransport({ baseUrl: server.httpUrl, httpVersion: "1.1" }),
  );
  for (let i = 0; i < 10; i++) {
    const kem = { id: `big-${i}`, content: new Uint8Array(100 * KIB).fill(65 + i), metadata: { kind: "big" } };
    await glm.storeKEM({ kem });
    await swm.publishKEMToSWM({ kemToPublish: kem });
  }
});
afterAll(async () => {
  await server?.close();
  removeTempDirs();
});

const PROTOCOLS: Record<string, () => Transport> = {
  connect: () => createConnectTransport({ baseUrl: server.httpUrl, httpVersion: "1.1" }),
  "grpc-web": () => createGrpcWebTransport({ baseUrl: server.httpUrl, httpVersion: "1.1" }),
  grpc: () => createGrpcTransport({ baseUrl: server.grpcUrl }),
};

describe("response size", () => {
  for (const [protocol, transport] of Object.entries(PROTOCOLS)) {
    test(`${protocol}: pages end at the byte budget and page on through every KEM once`, async () => {
      const glm = createClient(GlobalLongTermMemoryService, transport());
      const swm = createClient(SharedWorkingMemoryService, transport());
      const query = { metadataFilters: { kind: { kind: { case: "stringValue" as const, value: "big" } } } };
      const seen: string[] = [];
      let pageToken = "";
      do {
        const page = await glm.retrieveKEMs({ query, pageSize: 100, pageToken });
        expect(page.kems.length).toBeLessThanOrEqual(3);
        seen.push(...page.kems.map((k) => k.id));
        pageToken = page.nextPageToken;
      } while (pageToken);
      expect(seen.sort()).toEqual(Array.from({ length: 10 }, (_, i) => `big-${i}`).sort());
      const swmIds: string[] = [];
      pageToken = "";
      do {
        const page = await swm.querySWM({ query, pageSize: 100, pageToken });
        expect(page.kems.length).toBeLessThanOrEqual(3);
        swmIds.push(...page.kems.map((k) => k.id));
        pageToken = page.nextPageToken;
      } while (pageToken);
      expect(swmIds.sort()).toEqual(seen);
    });
  }
  test("a response over the message limit is ResourceExhausted on every protocol, never sent", async () => {
    // A KEM stored under larger limits, served after the operator lowered the message limit.
    const first = await startTestServer();
    const glm = createClient(
      GlobalLongTermMemoryService,
      createConnectTransport({ baseUrl: first.httpUrl, httpVersion: "1.1" }),
    );
    await glm.storeKEM({ kem: { id: "huge", content: new Uint8Array(400 * KIB).fill(66) } });
    const dataDir = (first as DcsmServer & { dataDir: string }).dataDir;
    await first.close();
    const lowered = await startTestServer({ dataDir, maxMessageBytes: 256 * KIB });
    try {
      const transports = [
        createConnectTransport({ baseUrl: lowered.httpUrl, httpVersion: "1.1" }),
        createGrpcWebTransport({ baseUrl: lowered.httpUrl, httpVersion: "1.1" }),
        createGrpcTransport({ baseUrl: lowered.grpcUrl }),
      ];
      for (const t of transports) {
        expect(
          await codeOf(createClient(GlobalLongTermMemoryService, t).retrieveKEMs({ query: { ids: ["huge"] } })),
        ).toBe(Code.ResourceExhausted);
      }
    } finally {
      await lowered.close();
    }
  });
});
