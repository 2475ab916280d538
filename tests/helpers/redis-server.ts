/**
 * A real `redis-server` for tests, on a free port, never the default 6379: no persistence,
 * optional `maxmemory`, and a `restart()` on the same port for fault tests.
 */

import { createServer } from "node:net";
import { type Subprocess, spawn } from "bun";
import { waitFor } from "./wait-for.ts";

/** Options of {@link startRedis}. */
export interface TestRedisOptions {
  /** `maxmemory`, e.g. "4mb". @default none */
  maxmemory?: string;
  /** `maxmemory-policy`. @default "volatile-lru" */
  policy?: string;
  /** Extra `redis-server` arguments. */
  args?: string[];
}

/** A running test Redis. */
export interface TestRedis {
  /** Port it listens on. */
  port: number;
  /** "redis://127.0.0.1:<port>". */
  url: string;
  /** Stops it (SIGKILL when `hard`); data is lost either way (no persistence). */
  stop(hard?: boolean): Promise<void>;
  /** Starts it again on the same port (empty). */
  restart(): Promise<void>;
  /** Runs a redis-cli command and returns its output. */
  cli(...args: string[]): Promise<string>;
}

/** A TCP port that was free a moment ago. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Starts `redis-server` and waits until it answers PING.
 * @throws Error when it does not answer within 5 s.
 */
export async function startRedis(options: TestRedisOptions = {}): Promise<TestRedis> {
  const port = await freePort();
  if (port === 6379) return startRedis(options);
  let proc: Subprocess | null = null;
  const cli = async (...args: string[]) => {
    const p = spawn(["redis-cli", "-p", String(port), ...args], { stdout: "pipe", stderr: "pipe" });
    const out = await new Response(p.stdout).text();
    await p.exited;
    return out.trim();
  };
  const launch = async () => {
    const args = [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      "--appendonly",
      "no",
      "--maxmemory-policy",
      options.policy ?? "volatile-lru",
    ];
    if (options.maxmemory) args.push("--maxmemory", options.maxmemory);
    proc = spawn(["redis-server", ...args, ...(options.args ?? [])], { stdout: "ignore", stderr: "inherit" });
    await waitFor(async () => (await cli("PING")) === "PONG", { what: `redis-server on port ${port} answering PING` });
  };
  await launch();
  const stop = async (hard = false) => {
    const p = proc;
    proc = null;
    if (!p) return;
    p.kill(hard ? "SIGKILL" : "SIGTERM");
    await p.exited;
  };
  return { port, url: `redis://127.0.0.1:${port}`, stop, restart: launch, cli };
}
