/**
 * `dcsm serve` as a real subprocess for fault tests (kill -9, restart on the same data folder):
 * both listeners on free ports, the committed model offline, configuration from `env` exactly as
 * a user would pass it (DCSM_VECTOR_INDEX, DCSM_GLM_URL, REDIS_URL, ...).
 */

import { join } from "node:path";
import { type Subprocess, spawn } from "bun";
import { REPO_ROOT } from "../../runtime/config.ts";

/** A running `dcsm serve` process. */
export interface ServeProcess {
  /** Connect / gRPC-Web base URL, e.g. "http://127.0.0.1:40123". */
  url: string;
  /** gRPC (h2c) base URL, e.g. "http://127.0.0.1:40124". */
  grpcUrl: string;
  /** The subprocess. */
  proc: Subprocess;
  /** Sends SIGKILL and waits for the exit. */
  kill9(): Promise<void>;
  /** Sends SIGTERM and waits for the exit; resolves with the exit code. */
  stop(): Promise<number>;
}

const MAIN = join(REPO_ROOT, "runtime/cli/main.ts");

/**
 * Starts `dcsm serve --data-dir <dataDir>` and waits for its "serving" banner.
 * @param dataDir - data folder (SQLite files, vector snapshots, queues).
 * @param env - extra environment variables (merged over this process's environment).
 * @param timeoutMs - longest wait for the banner, ms. @default 60000
 * @throws Error with the process's stderr when it exits or stays silent before the banner.
 */
export async function startServeProcess(
  dataDir: string,
  env: Record<string, string> = {},
  timeoutMs = 60_000,
): Promise<ServeProcess> {
  const proc = spawn(
    [
      process.execPath,
      MAIN,
      "serve",
      "--host",
      "127.0.0.1",
      "--http-port",
      "0",
      "--grpc-port",
      "0",
      "--data-dir",
      dataDir,
    ],
    {
      stdout: "pipe",
      stderr: "pipe",
      env: { ...process.env, DCSM_MODEL_OFFLINE: "1", DCSM_LOG_LEVEL: "warn", DCSM_WARMUP: "quick", ...env },
    },
  );
  const reader = proc.stdout.getReader();
  let banner = "";
  const deadline = Date.now() + timeoutMs;
  while (!banner.includes("\n")) {
    const chunk = await Promise.race([reader.read(), Bun.sleep(Math.max(1, deadline - Date.now())).then(() => null)]);
    if (!chunk || chunk.done) {
      proc.kill(9);
      throw new Error(`dcsm serve did not start: ${banner}${await new Response(proc.stderr).text()}`);
    }
    banner += new TextDecoder().decode(chunk.value);
  }
  // Keep draining both pipes so the child never blocks on a full pipe.
  void (async () => {
    while (!(await reader.read()).done);
  })().catch(() => {});
  void new Response(proc.stderr).text().catch(() => {});
  const url = /on (http:\/\/\S+) and gRPC/.exec(banner)?.[1];
  const grpcUrl = /and gRPC on (http:\/\/\S+)/.exec(banner)?.[1];
  if (!url || !grpcUrl) throw new Error(`unexpected banner: ${banner}`);
  return {
    url,
    grpcUrl,
    proc,
    async kill9() {
      proc.kill("SIGKILL");
      await proc.exited;
    },
    async stop() {
      proc.kill("SIGTERM");
      return proc.exited;
    },
  };
}
