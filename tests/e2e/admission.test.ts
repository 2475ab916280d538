/**
 * Admission control against a real server over real sockets: unary calls in progress are bounded
 * per principal and per process; a call beyond either bound is answered `ResourceExhausted` with
 * `retry-after` at once (while the admitted calls are still waiting) on Connect, gRPC-Web and
 * gRPC; slots come back when calls finish. Event fan-out never blocks publishers: stalled
 * subscribers are dropped while every publish completes.
 * In-flight calls are held open for real by AcquireLock waiting on a held lock.
 */
import { describe, expect, test } from "bun:test";
import { connect as netConnect, type Socket } from "node:net";
import { type Client, Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { newApiKey } from "../../runtime/auth/authenticator.ts";
import type { DcsmServer } from "../../runtime/server.ts";
import { LockStatus, SharedWorkingMemoryService } from "../../sdk/gen/dcsm/v1/swm_service_pb.ts";
import { apiKeysFile } from "../helpers/server.ts";
import { serverPerFile } from "../helpers/server-per-file.ts";
import { PROTOCOLS, type Protocol, transportTo } from "../helpers/transports.ts";

const ALL = "read,write,publish,subscribe,lock";
const keyA = newApiKey("agent-a", [`team-a:${ALL}`]);
const keyB = newApiKey("agent-b", [`team-b:${ALL}`]);
const keyC = newApiKey("agent-c", [`team-c:${ALL}`]);
const PER_PRINCIPAL = 3;
const PROCESS = 6;
const HOLD_MS = 3000;
let server: DcsmServer;

const swmAs = (protocol: Protocol, token: string): Client<typeof SharedWorkingMemoryService> =>
  createClient(SharedWorkingMemoryService, transportTo(server, protocol, token));

serverPerFile((s) => (server = s), {
  apiKeysFile: apiKeysFile([keyA, keyB, keyC]),
  maxInFlight: PROCESS,
  maxInFlightPerPrincipal: PER_PRINCIPAL,
  retryAfterSeconds: 2,
  swmSubscriberBuffer: 20,
});

/** Fails with the error's code, `retry-after` and elapsed ms, or "ok". */
async function refusal(p: Promise<unknown>): Promise<{ code: Code | "ok"; retryAfter: string | null; ms: number }> {
  const t0 = performance.now();
  try {
    await p;
    return { code: "ok", retryAfter: null, ms: performance.now() - t0 };
  } catch (err) {
    const e = ConnectError.from(err);
    // (connect-es's Connect client lists a header twice in error metadata: "2, 2")
    return {
      code: e.code,
      retryAfter: e.metadata.get("retry-after")?.split(",")[0]?.trim() ?? null,
      ms: performance.now() - t0,
    };
  }
}

/** Holds `n` calls of `token` in flight for HOLD_MS (AcquireLock waiting on a lock its own holder keeps). */
async function hold(token: string, ns: string, n: number): Promise<Promise<unknown>[]> {
  const swm = swmAs("connect", token);
  const resourceId = `${ns}/busy-${crypto.randomUUID()}`;
  expect((await swm.acquireLock({ resourceId, agentId: "holder", leaseDurationMs: 60_000 })).status).toBe(
    LockStatus.ACQUIRED,
  );
  const waits = Array.from({ length: n }, (_, i) =>
    swm.acquireLock({ resourceId, agentId: `waiter-${i}`, timeoutMs: HOLD_MS }),
  );
  await Bun.sleep(300); // the waits are admitted and in progress
  return waits;
}

/** One raw HTTP/1.1 connection: `send` writes a request and resolves with the next complete response (Content-Length bodies). */
async function rawHttp1(baseUrl: string): Promise<{
  send(request: string): Promise<{ status: number; headers: Record<string, string>; body: string }>;
  open(): boolean;
  close(): void;
}> {
  const u = new URL(baseUrl);
  const sock: Socket = netConnect(Number(u.port), u.hostname);
  await new Promise<void>((resolve, reject) => {
    sock.once("connect", resolve);
    sock.once("error", reject);
  });
  let buf = "";
  let waiting: (() => void) | undefined;
  sock.on("close", () => waiting?.());
  sock.on("data", (d) => {
    buf += d.toString("latin1");
    waiting?.();
  });
  const parse = () => {
    const end = buf.indexOf("\r\n\r\n");
    if (end < 0) return undefined;
    const [statusLine, ...lines] = buf.slice(0, end).split("\r\n");
    const headers: Record<string, string> = {};
    for (const l of lines) headers[l.slice(0, l.indexOf(":")).toLowerCase()] = l.slice(l.indexOf(":") + 1).trim();
    const length = Number(headers["content-length"] ?? 0);
    if (buf.length < end + 4 + length) return undefined;
    const body = buf.slice(end + 4, end + 4 + length);
    buf = buf.slice(end + 4 + length);
    return { status: Number(statusLine!.split(" ")[1]), headers, body };
  };
  return {
    async send(request) {
      sock.write(request);
      for (;;) {
        const r = parse();
        if (r) return r;
        if (sock.destroyed) throw new Error("connection closed");
        await new Promise<void>((resolve) => (waiting = resolve));
      }
    },
    open: () => !sock.destroyed,
    close: () => sock.destroy(),
  };
}

describe("admission control", () => {
  test("beyond the per-principal and the per-process bounds, calls get ResourceExhausted with retry-after at once, on every protocol", async () => {
    const aWaits = await hold(keyA.key, "team-a", PER_PRINCIPAL);
    for (const protocol of PROTOCOLS) {
      const r = await refusal(swmAs(protocol, keyA.key).getCounter({ counterId: "team-a/n" }));
      console.log(`${protocol}: per-principal refusal in ${r.ms.toFixed(1)} ms`);
      expect(r).toMatchObject({ code: Code.ResourceExhausted, retryAfter: "2" });
      expect(r.ms).toBeLessThan(500); // answered at once, not after the held calls' 3 s
    }
    // Connect sends it as an HTTP header: 429 + Retry-After.
    const raw = await fetch(`${server.httpUrl}/dcsm.v1.SharedWorkingMemoryService/GetCounter`, {
      method: "POST",
      body: JSON.stringify({ counterId: "team-a/n" }),
      headers: { "content-type": "application/json", authorization: `Bearer ${keyA.key}` },
    });
    expect(raw.status).toBe(429);
    expect(raw.headers.get("retry-after")).toBe("2");
    // Another principal still gets through until the process is full.
    expect((await refusal(swmAs("grpc", keyB.key).getCounter({ counterId: "team-b/n" }))).code).toBe("ok");
    const bWaits = await hold(keyB.key, "team-b", PROCESS - PER_PRINCIPAL);
    for (const protocol of PROTOCOLS) {
      const r = await refusal(swmAs(protocol, keyC.key).getCounter({ counterId: "team-c/n" }));
      console.log(`${protocol}: per-process refusal in ${r.ms.toFixed(1)} ms`);
      expect(r).toMatchObject({ code: Code.ResourceExhausted, retryAfter: "2" });
      expect(r.ms).toBeLessThan(500);
    }
    // When the held calls end, the slots come back.
    const outcomes = await Promise.all(
      [...aWaits, ...bWaits].map((w) => w.then((r) => (r as { status: LockStatus }).status)),
    );
    expect(outcomes).toEqual(Array(PROCESS).fill(LockStatus.TIMEOUT));
    expect((await refusal(swmAs("connect", keyC.key).getCounter({ counterId: "team-c/n" }))).code).toBe("ok");
    expect((await refusal(swmAs("grpc", keyA.key).getCounter({ counterId: "team-a/n" }))).code).toBe("ok");
  }, 30_000);

  test("a full process refuses unary calls before authenticating them, in each protocol's form; HTTP/1.1 connections stay usable; browsers still get CORS headers", async () => {
    const waits = [
      ...(await hold(keyA.key, "team-a", PER_PRINCIPAL)),
      ...(await hold(keyB.key, "team-b", PROCESS - PER_PRINCIPAL)),
    ];
    // Without credentials: ResourceExhausted (the process-wide refusal comes first), not Unauthenticated.
    for (const protocol of ["connect", "grpc-web", "grpc"] as const) {
      const anon =
        protocol === "grpc"
          ? createGrpcTransport({ baseUrl: server.grpcUrl })
          : (protocol === "connect" ? createConnectTransport : createGrpcWebTransport)({
              baseUrl: server.httpUrl,
              httpVersion: "1.1",
            });
      const r = await refusal(createClient(SharedWorkingMemoryService, anon).getCounter({ counterId: "team-c/n" }));
      expect(r).toMatchObject({ code: Code.ResourceExhausted, retryAfter: "2" });
    }
    // One keep-alive HTTP/1.1 connection: refused now (body left unread), served later on the same socket.
    const conn = await rawHttp1(server.httpUrl);
    const path = `/${SharedWorkingMemoryService.typeName}/GetCounter`;
    const body = JSON.stringify({ counterId: "team-c/n" });
    const refused = await conn.send(
      `POST ${path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nauthorization: Bearer ${keyC.key}\r\ncontent-length: ${body.length}\r\n\r\n${body}`,
    );
    expect(refused.status).toBe(429);
    expect(refused.headers["retry-after"]).toBe("2");
    expect(refused.headers.connection).not.toBe("close");
    // The same with a chunked body (how connect-node's HTTP/1.1 client sends): read and dropped, the connection kept.
    const chunked = await conn.send(
      `POST ${path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`,
    );
    expect(chunked.status).toBe(429);
    expect(chunked.headers.connection).not.toBe("close");
    // A browser's call (Origin) is refused by the ordinary path, with the CORS headers it needs to read the answer.
    const cors = await fetch(`${server.httpUrl}${path}`, {
      method: "POST",
      body,
      headers: {
        "content-type": "application/json",
        origin: "https://app.example",
        authorization: `Bearer ${keyC.key}`,
      },
    });
    expect(cors.status).toBe(429);
    expect(cors.headers.get("access-control-allow-origin")).toBe("*");
    await Promise.all(waits);
    expect(conn.open()).toBe(true);
    const served = await conn.send(
      `POST ${path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nauthorization: Bearer ${keyC.key}\r\ncontent-length: ${body.length}\r\n\r\n${body}`,
    );
    expect(served.status).toBe(200);
    conn.close();
  }, 30_000);

  test("stalled event subscribers never block publishers: every publish completes while five streams are not read", async () => {
    const ac = new AbortController();
    const stalled = [];
    for (let i = 0; i < 5; i++) {
      const it = swmAs("grpc", keyA.key).subscribeToSWMEvents({}, { signal: ac.signal })[Symbol.asyncIterator]();
      expect((await it.next()).value?.details).toBe("subscribed");
      stalled.push(it); // never read again
    }
    const swm = swmAs("connect", keyA.key);
    const content = new Uint8Array(32 * 1024).fill(0x61);
    const t0 = performance.now();
    for (let i = 0; i < 300; i++) await swm.publishKEMToSWM({ kemToPublish: { id: `fanout-${i % 10}`, content } });
    const ms = performance.now() - t0;
    console.log(`300 publishes of 32 KiB with 5 stalled subscribers: ${ms.toFixed(0)} ms`);
    // Publishing did not wait for the stalled streams; a new stream is still served at once.
    const fresh = swmAs("grpc", keyA.key).subscribeToSWMEvents({}, { signal: ac.signal })[Symbol.asyncIterator]();
    expect((await fresh.next()).value?.details).toBe("subscribed");
    ac.abort();
  }, 30_000);
});
