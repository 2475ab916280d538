/**
 * Connection limits of the gRPC listener against a real server over real sockets: silent
 * connections are closed after the handshake timeout, connections beyond the cap are closed on
 * accept, idle HTTP/2 sessions get GOAWAY, and health Watch streams (open without credentials)
 * are capped — so idle connections cannot starve the server.
 */
import { describe, expect, test } from "bun:test";
import { connect as h2Connect } from "node:http2";
import { connect as netConnect, type Socket } from "node:net";
import { Code, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import type { DcsmServer } from "../../runtime/server.ts";
import { Health } from "../../sdk/gen/grpc/health/v1/health_pb.ts";
import { codeOf } from "../helpers/connect-code.ts";
import { serverPerFile } from "../helpers/server-per-file.ts";

const CAP = 20;
const HANDSHAKE_MS = 500;
const IDLE_MS = 800;
const WATCHERS = 2;
let server: DcsmServer;

serverPerFile((s) => (server = s), {
  grpcMaxConnections: CAP,
  grpcHandshakeTimeoutMs: HANDSHAKE_MS,
  grpcIdleTimeoutMs: IDLE_MS,
  healthMaxWatchers: WATCHERS,
});

/** Opens a TCP connection that sends nothing; resolves once connected, with its close time (ms since `t0`). */
function silent(port: number, t0: number): Promise<{ socket: Socket; closedAt: Promise<number> }> {
  return new Promise((resolve, reject) => {
    const socket = netConnect(port, "127.0.0.1");
    const closedAt = new Promise<number>((r) => socket.once("close", () => r(performance.now() - t0)));
    socket.on("error", () => {});
    socket.resume(); // read, so the server's close is seen
    socket.once("connect", () => resolve({ socket, closedAt }));
    socket.once("error", reject);
  });
}

describe("gRPC listener connection limits", () => {
  test(`silent connections beyond ${CAP} are closed at once, the rest after the ${HANDSHAKE_MS} ms handshake timeout; a real call then works`, async () => {
    const port = Number(new URL(server.grpcUrl).port);
    const t0 = performance.now();
    const conns = [];
    for (let i = 0; i < CAP + 10; i++) conns.push(await silent(port, t0));
    const closed = await Promise.all(
      conns.map((c) => Promise.race([c.closedAt, Bun.sleep(5000).then(() => Infinity)])),
    );
    const early = closed.filter((t) => t < HANDSHAKE_MS * 0.8).length;
    const late = closed.filter((t) => t >= HANDSHAKE_MS * 0.8 && t < HANDSHAKE_MS + 2000).length;
    expect(early).toBeGreaterThanOrEqual(10);
    expect(early + late).toBe(CAP + 10);
    const health = createClient(Health, createGrpcTransport({ baseUrl: server.grpcUrl }));
    expect((await health.check({})).status).toBe(1);
  });

  test(`an HTTP/2 session without open streams is closed after the ${IDLE_MS} ms idle timeout`, async () => {
    const session = h2Connect(server.grpcUrl);
    session.on("error", () => {});
    const t0 = performance.now();
    const closed = new Promise<number>((r) => session.once("close", () => r(performance.now() - t0)));
    const goaway = new Promise<boolean>((r) => session.once("goaway", () => r(true)));
    await new Promise<void>((r) => session.once("connect", () => r()));
    const ms = await Promise.race([closed, Bun.sleep(IDLE_MS * 4).then(() => Infinity)]);
    expect(await Promise.race([goaway, Bun.sleep(10).then(() => false)])).toBe(true);
    expect(ms).toBeGreaterThanOrEqual(IDLE_MS * 0.8);
    expect(ms).toBeLessThan(IDLE_MS * 3);
    session.destroy();
  });

  test(`at most ${WATCHERS} health Watch streams are open at once; more get ResourceExhausted`, async () => {
    const health = createClient(Health, createGrpcTransport({ baseUrl: server.grpcUrl }));
    const ac = new AbortController();
    const open = [];
    for (let i = 0; i < WATCHERS; i++) {
      const it = health.watch({}, { signal: ac.signal })[Symbol.asyncIterator]();
      expect((await it.next()).value?.status).toBe(1);
      open.push(it);
    }
    const extra = health.watch({}, { signal: ac.signal })[Symbol.asyncIterator]();
    expect(await codeOf(extra.next())).toBe(Code.ResourceExhausted);
    ac.abort();
  });
});
