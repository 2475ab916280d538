/** Spawns the SWM fixture server as a real process (for kill -9 and multi-process tests). */

import { join } from "node:path";
import { type Subprocess, spawn } from "bun";

/** A running SWM server process. */
export interface SwmProcess {
  url: string;
  proc: Subprocess;
  /** GET /swm-stats. */
  stats(): Promise<{ depth: number; oldestAgeMs: number; persisted: number; failedAttempts: number }>;
  /** kill -9. */
  kill9(): Promise<void>;
  /** SIGTERM and wait. */
  stop(): Promise<void>;
}

/**
 * Starts `fixtures/swm-server.ts` with `env` and waits for its URL.
 * @throws Error when it does not print its URL within 15 s.
 */
export async function startSwmProcess(env: Record<string, string>): Promise<SwmProcess> {
  const proc = spawn([process.execPath, join(import.meta.dir, "fixtures", "swm-server.ts")], {
    env: { PATH: process.env.PATH ?? "", DCSM_LOG_LEVEL: "error", ...env },
    stdout: "pipe",
    stderr: "inherit",
  });
  const reader = proc.stdout.getReader();
  let buf = "";
  const deadline = Date.now() + 15_000;
  while (!buf.includes("\n")) {
    const chunk = await Promise.race([reader.read(), Bun.sleep(Math.max(1, deadline - Date.now())).then(() => null)]);
    if (!chunk || chunk.done) {
      proc.kill(9);
      throw new Error(`SWM process did not start (output: ${buf})`);
    }
    buf += new TextDecoder().decode(chunk.value);
  }
  reader.releaseLock();
  const { url } = JSON.parse(buf.split("\n")[0]!) as { url: string };
  return {
    url,
    proc,
    stats: async () => (await fetch(`${url}/swm-stats`)).json() as never,
    async kill9() {
      proc.kill(9);
      await proc.exited;
    },
    async stop() {
      proc.kill("SIGTERM");
      await proc.exited;
    },
  };
}
