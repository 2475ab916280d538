/**
 * The TLS port's share of the transport protections, over real TLS sockets: an unauthenticated
 * RPC is refused from its headers while most of its body is unsent (gRPC over h2, Connect over
 * HTTP/1.1), and connections that never start a TLS handshake are closed after the handshake
 * timeout; connections beyond the cap are closed on accept.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect as netConnect } from "node:net";
import { connect as tlsConnect } from "node:tls";
import type { DcsmServer } from "../../runtime/server.ts";
import { grpcPartial } from "../helpers/grpc-partial.ts";
import { responseHead } from "../helpers/response-head.ts";
import { startTestServer } from "../helpers/server.ts";
import { removeTempDirs, tempDir } from "../helpers/temp-dir.ts";
import { makeSelfSignedCert, type TestCert } from "../helpers/tls-cert.ts";

const BODY_BYTES = Math.round(13.8 * 1024 * 1024);
const STORE_PATH = "/dcsm.v1.GlobalLongTermMemoryService/StoreKEM";
const CAP = 10;
const HANDSHAKE_MS = 500;
let server: DcsmServer;
let cert: TestCert;
let port: number;

beforeAll(async () => {
  cert = makeSelfSignedCert(tempDir("dcsm-tls-limits-"));
  server = await startTestServer({
    tlsCert: cert.certPath,
    tlsKey: cert.keyPath,
    apiKeys: "dcsm_tls-limits-key",
    grpcMaxConnections: CAP,
    grpcHandshakeTimeoutMs: HANDSHAKE_MS,
  });
  port = Number(new URL(server.httpUrl).port);
});
afterAll(async () => {
  await server?.close();
  removeTempDirs();
});

describe("TLS port", () => {
  test("unauthenticated gRPC (h2) and Connect (HTTP/1.1) calls are refused while 13.7 of 13.8 MiB are unsent", async () => {
    const grpc = await grpcPartial({
      url: server.httpUrl,
      path: STORE_PATH,
      envelopeBytes: BODY_BYTES,
      sendBytes: 64 * 1024,
      timeoutMs: 5000,
      tls: { ca: cert.cert },
    });
    expect(String(grpc["grpc-status"])).toBe("16");

    const sock = tlsConnect(
      { host: "127.0.0.1", port, servername: "localhost", ca: cert.cert, ALPNProtocols: ["http/1.1"] },
      () => {
        sock.write(
          `POST ${STORE_PATH} HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/proto\r\ncontent-length: ${BODY_BYTES}\r\n\r\n`,
        );
        sock.write(Buffer.alloc(64 * 1024, 0x61));
      },
    );
    const head = await responseHead(sock, 5000);
    expect(head).toStartWith("HTTP/1.1 401");
  });

  test(`silent connections beyond ${CAP} close at once, the rest after the ${HANDSHAKE_MS} ms handshake timeout`, async () => {
    const t0 = performance.now();
    const closes: Promise<number>[] = [];
    for (let i = 0; i < CAP + 5; i++) {
      const s = netConnect(port, "127.0.0.1");
      s.on("error", () => {});
      s.resume();
      closes.push(new Promise((r) => s.once("close", () => r(performance.now() - t0))));
      await new Promise((r) => s.once("connect", r));
    }
    const at = await Promise.all(closes.map((c) => Promise.race([c, Bun.sleep(5000).then(() => Infinity)])));
    expect(at.filter((t) => t < HANDSHAKE_MS * 0.8).length).toBeGreaterThanOrEqual(5);
    expect(at.every((t) => t < HANDSHAKE_MS + 2000)).toBe(true);
    // A real client still gets in afterwards.
    expect((await fetch(`${server.httpUrl}/health`, { tls: { ca: cert.cert } } as RequestInit)).status).toBe(200);
  });
});
