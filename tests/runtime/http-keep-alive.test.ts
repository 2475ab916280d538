/**
 * The HTTP host's keep-alive connections: an idle HTTP/1.1 connection is closed after
 * `DCSM_HTTP_IDLE_TIMEOUT_S` and not before, over real sockets to real servers.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { connect, type Socket } from "node:net";
import { loadConfig } from "../../runtime/config.ts";
import { type DcsmServer, startDcsmServer } from "../../runtime/server.ts";
import { testEmbedder } from "../helpers/model.ts";
import { freePort } from "../helpers/redis-server.ts";
import { tempDir } from "../helpers/temp-dir.ts";

const servers: DcsmServer[] = [];
let short: DcsmServer;
let long: DcsmServer;

async function start(overrides: { httpIdleTimeoutS?: number }): Promise<DcsmServer> {
  const config = loadConfig(
    {},
    {
      dataDir: tempDir("dcsm-keepalive-"),
      logLevel: "warn",
      modelOffline: true,
      warmup: "quick",
      httpPort: await freePort(),
      grpcPort: await freePort(),
      ...overrides,
    },
  );
  const server = await startDcsmServer(config, { embedder: await testEmbedder() });
  servers.push(server);
  return server;
}

beforeAll(async () => {
  short = await start({ httpIdleTimeoutS: 1 });
  long = await start({});
});
afterAll(async () => {
  for (const s of servers) await s.close();
});

/** A raw keep-alive connection that has completed one request; resolves `closed` when the server closes it. */
async function usedConnection(
  port: number,
): Promise<{ socket: Socket; closed: Promise<void>; request(): Promise<string> }> {
  const socket = connect(port, "127.0.0.1");
  await new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject));
  let buffered = "";
  let waiting: ((s: string) => void) | undefined;
  socket.on("data", (d) => {
    buffered += d.toString("latin1");
    if (waiting && buffered.includes("\r\n\r\n")) {
      const w = waiting;
      waiting = undefined;
      w(buffered);
      buffered = "";
    }
  });
  const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  const request = () =>
    new Promise<string>((resolve) => {
      waiting = resolve;
      socket.write("GET /health HTTP/1.1\r\nHost: dcsm\r\nConnection: keep-alive\r\n\r\n");
    });
  return { socket, closed, request };
}

test("an idle keep-alive connection is closed after DCSM_HTTP_IDLE_TIMEOUT_S; under the default (120 s) it stays usable", async () => {
  expect(loadConfig({}, {}).httpIdleTimeoutS).toBe(120);
  const a = await usedConnection(Number(new URL(short.httpUrl).port));
  const b = await usedConnection(Number(new URL(long.httpUrl).port));
  expect(await a.request()).toStartWith("HTTP/1.1 ");
  expect(await b.request()).toStartWith("HTTP/1.1 ");
  const t0 = Date.now();
  // Bun checks idle connections on a timer of a few seconds: the 1 s connection goes within 10 s.
  const outcome = await Promise.race([a.closed.then(() => "closed"), Bun.sleep(10_000).then(() => "open")]);
  expect(outcome).toBe("closed");
  const idleMs = Date.now() - t0;
  expect(idleMs).toBeGreaterThanOrEqual(900);
  // The default server kept its connection just as idle for as long: it still answers on it.
  expect(b.socket.destroyed).toBe(false);
  expect(await b.request()).toStartWith("HTTP/1.1 ");
  b.socket.destroy();
}, 30_000);
