/**
 * Authentication before the body (Security): an RPC without valid credentials is refused with
 * `Unauthenticated` from its headers alone, on Connect, gRPC-Web and gRPC, so an unauthenticated
 * caller cannot make the server read, buffer or decode a large body. Checked two ways against a
 * real `dcsm serve` process over real sockets: the refusal arrives while most of a 13.8 MiB body
 * is still unsent, and six parallel unauthenticated 13.8 MiB bodies per protocol barely move the
 * server's RSS (read from /proc).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { connect as netConnect, type Socket } from "node:net";
import { Code, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { bearerAuth } from "../../sdk/auth.ts";
import { GlobalLongTermMemoryService } from "../../sdk/gen/dcsm/v1/glm_service_pb.ts";
import { Health } from "../../sdk/gen/grpc/health/v1/health_pb.ts";
import { codeOf } from "../helpers/connect-code.ts";
import { grpcPartial } from "../helpers/grpc-partial.ts";
import { responseHead } from "../helpers/response-head.ts";
import { type ServeProcess, startServeProcess } from "../helpers/serve-process.ts";
import { removeTempDirs, tempDir } from "../helpers/temp-dir.ts";

const KEY = "dcsm_early-auth-test-key";
const BODY_BYTES = Math.round(13.8 * 1024 * 1024);
const STORE_PATH = "/dcsm.v1.GlobalLongTermMemoryService/StoreKEM";
let srv: ServeProcess;

beforeAll(async () => {
  srv = await startServeProcess(tempDir("dcsm-early-auth-"), { DCSM_API_KEYS: KEY });
});
afterAll(async () => {
  await srv?.stop();
  removeTempDirs();
});

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(m![1]) / 1024;
}

/** Sends an HTTP/1.1 request head declaring `BODY_BYTES` and `sendBytes` of body, then waits for the response head. */
function http1Partial(baseUrl: string, contentType: string, sendBytes: number, timeoutMs: number): Promise<string> {
  const u = new URL(baseUrl);
  const sock: Socket = netConnect(Number(u.port), u.hostname);
  const head = responseHead(sock, timeoutMs);
  sock.write(
    `POST ${STORE_PATH} HTTP/1.1\r\nhost: ${u.host}\r\ncontent-type: ${contentType}\r\ncontent-length: ${BODY_BYTES}\r\n\r\n`,
  );
  sock.write(Buffer.alloc(sendBytes, 0x61));
  return head;
}

describe("unauthenticated RPCs are refused before their body is read", () => {
  test("Connect, gRPC-Web and gRPC answer Unauthenticated while 13.7 of 13.8 MiB are still unsent", async () => {
    const connect = await http1Partial(srv.url, "application/proto", 64 * 1024, 5000);
    expect(connect).toStartWith("HTTP/1.1 401");
    const grpcWeb = await http1Partial(srv.url, "application/grpc-web+proto", 64 * 1024, 5000);
    expect(grpcWeb).toStartWith("HTTP/1.1 200");
    expect(grpcWeb.toLowerCase()).toContain("grpc-status: 16");
    const grpc = await grpcPartial({
      url: srv.grpcUrl,
      path: STORE_PATH,
      envelopeBytes: BODY_BYTES,
      sendBytes: 64 * 1024,
      timeoutMs: 5000,
    });
    expect(String(grpc["grpc-status"])).toBe("16");
  });

  test("six parallel unauthenticated 13.8 MiB StoreKEM bodies per protocol leave the server's RSS within 100 MiB", async () => {
    const body = new Uint8Array(BODY_BYTES).fill(0x61);
    const before = rssMiB(srv.proc.pid);
    const transports = [
      createConnectTransport({ baseUrl: srv.url, httpVersion: "1.1", useBinaryFormat: true }),
      createGrpcWebTransport({ baseUrl: srv.url, httpVersion: "1.1" }),
      createGrpcTransport({ baseUrl: srv.grpcUrl }),
    ];
    for (const t of transports) {
      const glm = createClient(GlobalLongTermMemoryService, t);
      const codes = await Promise.all(
        Array.from({ length: 6 }, () => codeOf(glm.storeKEM({ kem: { content: body } }))),
      );
      expect(codes).toEqual(Array(6).fill(Code.Unauthenticated));
    }
    const after = rssMiB(srv.proc.pid);
    console.log(`server RSS ${before.toFixed(0)} → ${after.toFixed(0)} MiB after 18 unauthenticated 13.8 MiB bodies`);
    expect(after - before).toBeLessThan(100);
  });

  test("authenticated calls still work on every protocol; health stays open with a 64 KiB body limit", async () => {
    const transports = [
      createConnectTransport({ baseUrl: srv.url, httpVersion: "1.1", interceptors: [bearerAuth(KEY)] }),
      createGrpcWebTransport({ baseUrl: srv.url, httpVersion: "1.1", interceptors: [bearerAuth(KEY)] }),
      createGrpcTransport({ baseUrl: srv.grpcUrl, interceptors: [bearerAuth(KEY)] }),
    ];
    for (const t of transports) {
      const stored = await createClient(GlobalLongTermMemoryService, t).storeKEM({
        kem: { content: new TextEncoder().encode("authenticated") },
      });
      expect(stored.kem?.id).toBeTruthy();
    }
    for (const t of [
      createGrpcTransport({ baseUrl: srv.grpcUrl }),
      createConnectTransport({ baseUrl: srv.url, httpVersion: "1.1" }),
      createGrpcWebTransport({ baseUrl: srv.url, httpVersion: "1.1" }),
    ]) {
      const health = createClient(Health, t);
      expect((await health.check({})).status).toBe(1);
      expect(await codeOf(health.check({ service: "x".repeat(70 * 1024) }))).toBe(Code.ResourceExhausted);
    }
  });
});
