/**
 * Configured limits over real sockets (docs/security.md "Limits"): every limit set through
 * its `DCSM_*` variable is enforced with the documented Connect code on a running server, and a
 * slow SWM subscriber (one that never reads its socket) is dropped with `ResourceExhausted`
 * while other subscribers keep receiving every event and publishers never stall.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type Socket, connect as tcpConnect } from "node:net";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { ConfigError, limitsOf, loadConfig } from "../../runtime/config.ts";
import type { DcsmServer } from "../../runtime/server.ts";
import { GlobalLongTermMemoryService } from "../../sdk/gen/dcsm/v1/glm_service_pb.ts";
import { KnowledgeProcessorService } from "../../sdk/gen/dcsm/v1/kps_service_pb.ts";
import { EventType, SharedWorkingMemoryService } from "../../sdk/gen/dcsm/v1/swm_service_pb.ts";
import { codeOf } from "../helpers/connect-code.ts";
import { startTestServer } from "../helpers/server.ts";
import { removeTempDirs } from "../helpers/temp-dir.ts";
import { waitFor } from "../helpers/wait-for.ts";

/** The limits under test, as environment variables (parsed by loadConfig like `dcsm serve` does). */
const ENV = {
  DCSM_MAX_CONTENT_BYTES: "1000",
  DCSM_MAX_BATCH: "5",
  DCSM_MAX_PAGE_SIZE: "7",
  DCSM_MAX_METADATA_BYTES: "2000",
  DCSM_MAX_METADATA_KEYS: "4",
  DCSM_MAX_METADATA_VALUE_BYTES: "300",
  DCSM_SWM_MAX_SUBSCRIBERS: "3",
  DCSM_SWM_SUBSCRIBER_BUFFER: "16",
};
const enc = new TextEncoder();

let server: DcsmServer;
beforeAll(async () => {
  const fromEnv = loadConfig(ENV);
  server = await startTestServer({
    maxContentBytes: fromEnv.maxContentBytes,
    maxBatchSize: fromEnv.maxBatchSize,
    maxPageSize: fromEnv.maxPageSize,
    maxMetadataBytes: fromEnv.maxMetadataBytes,
    maxMetadataKeys: fromEnv.maxMetadataKeys,
    maxMetadataValueBytes: fromEnv.maxMetadataValueBytes,
    swmMaxSubscribers: fromEnv.swmMaxSubscribers,
    swmSubscriberBuffer: fromEnv.swmSubscriberBuffer,
  });
});
afterAll(async () => {
  await server?.close();
  removeTempDirs();
});

describe("configured limits", () => {
  test("each variable is read, validated and named in errors", () => {
    const c = loadConfig(ENV);
    expect(limitsOf(c)).toMatchObject({
      maxContentBytes: 1000,
      maxBatchSize: 5,
      maxPageSize: 7,
      maxMetadataBytes: 2000,
      maxMetadataKeys: 4,
      maxMetadataValueBytes: 300,
    });
    expect([c.swmMaxSubscribers, c.swmSubscriberBuffer]).toEqual([3, 16]);
    expect(() => loadConfig({ DCSM_MAX_METADATA_KEYS: "0" })).toThrow(ConfigError);
    expect(() => loadConfig({ DCSM_SWM_SUBSCRIBER_BUFFER: "lots" })).toThrow(/DCSM_SWM_SUBSCRIBER_BUFFER/);
    expect(() => loadConfig({ DCSM_MAX_METADATA_VALUE_BYTES: "-1" })).toThrow(/DCSM_MAX_METADATA_VALUE_BYTES/);
  });
});

describe("GLM, SWM and KPS enforce the configured limits with the documented codes", () => {
  const clients = () => {
    const transport = createConnectTransport({ baseUrl: server.httpUrl, httpVersion: "1.1", useBinaryFormat: true });
    return {
      glm: createClient(GlobalLongTermMemoryService, transport),
      swm: createClient(SharedWorkingMemoryService, transport),
      kps: createClient(KnowledgeProcessorService, transport),
    };
  };
  const x = enc.encode("x");
  const fiveKeys = { a: 1, b: 2, c: 3, d: 4, e: 5 };

  test("content size: InvalidArgument at the limit + 1, fine at the limit", async () => {
    const { glm } = clients();
    expect(await codeOf(glm.storeKEM({ kem: { content: new Uint8Array(1001).fill(97) } }))).toBe(Code.InvalidArgument);
    expect(await codeOf(glm.storeKEM({ kem: { content: new Uint8Array(1000).fill(97) } }))).toBe("ok");
  });

  test("batch size: ResourceExhausted over the limit, fine at it", async () => {
    const { glm } = clients();
    expect(await codeOf(glm.batchStoreKEMs({ kems: Array.from({ length: 6 }, () => ({ content: x })) }))).toBe(
      Code.ResourceExhausted,
    );
    expect(await codeOf(glm.batchStoreKEMs({ kems: Array.from({ length: 5 }, () => ({ content: x })) }))).toBe("ok");
  });

  test("page size: InvalidArgument on GLM and SWM over the limit", async () => {
    const { glm, swm } = clients();
    expect(await codeOf(glm.retrieveKEMs({ pageSize: 8 }))).toBe(Code.InvalidArgument);
    expect(await codeOf(glm.retrieveKEMs({ pageSize: 7 }))).toBe("ok");
    expect(await codeOf(swm.querySWM({ pageSize: 8 }))).toBe(Code.InvalidArgument);
  });

  test("metadata: key count, key length, one value's size, total size — on every way in, and per item in a batch", async () => {
    const { glm, swm, kps } = clients();
    const longKey = { ["k".repeat(129)]: 1 };
    const bigValue = { big: "v".repeat(400) };
    const bigTotal = {
      a: "v".repeat(280),
      b: "v".repeat(280),
      c: "v".repeat(280),
      d: ["v".repeat(280), "v".repeat(280), "v".repeat(280), "v".repeat(280)],
    };
    for (const metadata of [fiveKeys, longKey, bigValue, bigTotal]) {
      expect(await codeOf(glm.storeKEM({ kem: { content: x, metadata } }))).toBe(Code.InvalidArgument);
      expect(await codeOf(swm.publishKEMToSWM({ kemToPublish: { content: x, metadata } }))).toBe(Code.InvalidArgument);
      expect(await codeOf(kps.processRawData({ rawContent: enc.encode("some text"), initialMetadata: metadata }))).toBe(
        Code.InvalidArgument,
      );
    }
    const batch = await glm.batchStoreKEMs({
      kems: [
        { content: x, metadata: fiveKeys },
        { content: x, metadata: { a: 1, b: 2, c: 3, d: 4 } },
      ],
    });
    expect(batch.results.map((r) => r.outcome.case)).toEqual(["error", "kem"]);
    expect(batch.results[0]!.outcome.value).toMatchObject({
      code: "invalid_argument",
      message: "kem.metadata has 5 keys, over the limit of 4",
    });
  });

  test("UpdateKEM: a merge that would end over the key limit is refused, the stored KEM unchanged", async () => {
    const { glm } = clients();
    const { kem } = await glm.storeKEM({ kem: { content: x, metadata: { a: 1, b: 2, c: 3 } } });
    expect(await codeOf(glm.updateKEM({ kemId: kem!.id, kemDataUpdate: { metadata: { d: 4, e: 5 } } }))).toBe(
      Code.InvalidArgument,
    );
    expect((await glm.retrieveKEMs({ query: { ids: [kem!.id] } })).kems[0]!.metadata).toEqual({ a: 1, b: 2, c: 3 });
  });

  test("fixed limits: query.ids ≤ 1000, text_query ≤ 4096 characters", async () => {
    const { glm } = clients();
    expect(await codeOf(glm.retrieveKEMs({ query: { ids: Array.from({ length: 1001 }, (_, i) => `id-${i}`) } }))).toBe(
      Code.InvalidArgument,
    );
    expect(await codeOf(glm.retrieveKEMs({ query: { textQuery: "a".repeat(4097) } }))).toBe(Code.InvalidArgument);
  });

  test("vector dimension must match the model's (384)", async () => {
    const { glm, swm } = clients();
    expect(await codeOf(glm.storeKEM({ kem: { content: x, embeddings: new Array(383).fill(0.1) } }))).toBe(
      Code.InvalidArgument,
    );
    expect(await codeOf(swm.querySWM({ query: { embeddingQuery: new Array(385).fill(0.1) } }))).toBe(
      Code.InvalidArgument,
    );
  });
});

/** A Connect-protocol event stream on a raw socket, to pause reading at the TCP level. */
function rawSubscribe(url: string): Promise<Socket> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const sock = tcpConnect(Number(u.port), u.hostname, () => {
      const body = enc.encode(JSON.stringify({ agentId: "slow" }));
      const frame = Buffer.alloc(5 + body.length);
      frame.writeUInt32BE(body.length, 1);
      frame.set(body, 5);
      sock.write(
        `POST /dcsm.v1.SharedWorkingMemoryService/SubscribeToSWMEvents HTTP/1.1\r\nHost: ${u.host}\r\nContent-Type: application/connect+json\r\nContent-Length: ${frame.length}\r\n\r\n`,
      );
      sock.write(frame);
      resolve(sock);
    });
    sock.once("error", reject);
  });
}

describe("SWM subscribers", () => {
  // Default KEM limits here (60 kB events); subscriber limits from the variables above.
  let server: DcsmServer;
  beforeAll(async () => {
    const fromEnv = loadConfig(ENV);
    server = await startTestServer({
      swmMaxSubscribers: fromEnv.swmMaxSubscribers,
      swmSubscriberBuffer: fromEnv.swmSubscriberBuffer,
    });
  });
  afterAll(async () => {
    await server?.close();
  });

  test("more streams than DCSM_SWM_MAX_SUBSCRIBERS: ResourceExhausted", async () => {
    const swm = createClient(
      SharedWorkingMemoryService,
      createConnectTransport({ baseUrl: server.httpUrl, httpVersion: "1.1" }),
    );
    const ac = new AbortController();
    const open = async () => {
      const it = swm.subscribeToSWMEvents({}, { signal: ac.signal })[Symbol.asyncIterator]();
      await it.next(); // the "subscribed" heartbeat: the stream is registered
      return it;
    };
    const streams = [await open(), await open(), await open()];
    expect(await codeOf(open())).toBe(Code.ResourceExhausted);
    ac.abort();
    await Promise.allSettled(streams.map((s) => s.next()));
    // Slots are freed when the server sees the streams end: retry a new stream until it is admitted.
    const again = new AbortController();
    const first = await waitFor(
      async () => {
        const it = swm.subscribeToSWMEvents({}, { signal: again.signal })[Symbol.asyncIterator]();
        const r = await it.next().catch(() => undefined);
        return r && { it, value: r.value };
      },
      { timeoutMs: 2000, what: "a freed subscriber slot" },
    );
    expect(first.value?.details).toBe("subscribed");
    again.abort();
    await first.it.next().catch(() => undefined);
  });

  test("a subscriber that never reads is dropped with ResourceExhausted; others get every event; publishers never stall", async () => {
    const swm = createClient(
      SharedWorkingMemoryService,
      createConnectTransport({ baseUrl: server.httpUrl, httpVersion: "1.1" }),
    );
    const slow = await rawSubscribe(server.httpUrl);
    const slowChunks: Buffer[] = [];
    slow.on("data", (c: Buffer) => slowChunks.push(c));
    await waitFor(() => slowChunks.length > 0, { what: "the slow stream's first frame" }); // registered
    slow.pause(); // never read again: the kernel buffers fill, then the server's 16-event buffer

    const N = 300;
    const tag = `slow-${crypto.randomUUID()}`;
    const ac = new AbortController();
    let fastSubscribed = false;
    const fast = (async () => {
      const seen: string[] = [];
      try {
        for await (const ev of swm.subscribeToSWMEvents({}, { signal: ac.signal })) {
          if (ev.details === "subscribed") fastSubscribed = true;
          if (ev.eventType === EventType.KEM_PUBLISHED && ev.kemPayload?.metadata?.tag === tag)
            seen.push(ev.kemPayload.id);
          if (seen.length === N) break;
        }
      } catch (err) {
        seen.push(`stream failed: ${ConnectError.from(err).message}`);
      }
      return seen;
    })();
    await waitFor(() => fastSubscribed, { what: "the fast stream's subscribed event" });
    const content = new Uint8Array(60_000).fill(97); // 300 × 60 kB ≈ 18 MB: more than socket buffers hold
    const started = performance.now();
    const ids: string[] = [];
    try {
      for (let i = 0; i < N; i++)
        ids.push(
          (
            await swm.publishKEMToSWM({
              kemToPublish: { id: `${tag}-${i}`, content, metadata: { tag } },
              agentId: "pub",
            })
          ).kemId,
        );
    } finally {
      if (ids.length < N) ac.abort();
    }
    const publishMs = performance.now() - started;
    expect(await fast).toEqual(ids); // the fast subscriber got every event, in order
    ac.abort();
    expect(publishMs).toBeLessThan(20_000);

    // Now read the slow stream to its end: its last frame is the end-stream error.
    slow.resume();
    const rawText = () => Buffer.concat(slowChunks).toString("latin1");
    await waitFor(() => /"error":\{[^}]*\}/.test(rawText()), {
      timeoutMs: 10_000,
      intervalMs: 50,
      what: "the slow stream's end-stream error",
    });
    const raw = rawText();
    slow.destroy();
    expect(raw.startsWith("HTTP/1.1 200")).toBe(true);
    const end = /\{"error":\{"code":"([a-z_]+)","message":"([^"]*)"/.exec(raw);
    expect(end?.[1]).toBe("resource_exhausted");
    expect(end?.[2]).toContain("fell 16 events behind");
  }, 60_000);
});
