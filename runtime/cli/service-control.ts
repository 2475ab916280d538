/**
 * `dcsm start | stop | status | warmup` (README "VS Code tasks"):
 * runs `dcsm serve` in the background with a pid file and a log in the data folder, waits until
 * `/health` reports ready (model warmed up), and stops it gracefully. The VS Code tasks in
 * `.vscode/tasks.json` call these.
 * @module
 */
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { DcsmConfig } from "../config.ts";

/** Where a background server keeps its pid and log. */
export function controlFiles(config: DcsmConfig): { pid: string; log: string } {
  const dir = resolve(config.dataDir);
  return { pid: join(dir, "dcsm.pid"), log: join(dir, "dcsm.log") };
}

/** Base URL of the HTTP listener of a configuration (0.0.0.0/:: are reached on loopback). */
export function httpUrlOf(config: DcsmConfig): string {
  const host = config.host === "0.0.0.0" || config.host === "::" ? "127.0.0.1" : config.host;
  return `http://${host.includes(":") ? `[${host}]` : host}:${config.httpPort}`;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

function runningPid(config: DcsmConfig): number | undefined {
  const { pid } = controlFiles(config);
  if (!existsSync(pid)) return undefined;
  const n = Number(readFileSync(pid, "utf8").trim());
  return Number.isInteger(n) && n > 0 && alive(n) ? n : undefined;
}

/** `/health` JSON (details need an admin `token` when authentication is on), or undefined when nothing answers. */
export async function fetchHealth(
  url: string,
  token?: string,
): Promise<{ status: string; [k: string]: unknown } | undefined> {
  try {
    const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
    return (await (await fetch(`${url}/health`, { headers, signal: AbortSignal.timeout(2000) })).json()) as never;
  } catch {
    return undefined;
  }
}

/**
 * Starts `dcsm serve` detached and waits until it is ready.
 * @param config - the server configuration (its data folder holds the pid file and log).
 * @param mainPath - path of `runtime/cli/main.ts`.
 * @param timeoutMs - longest wait for readiness. @default 180000
 * @returns a message for the user.
 * @throws Error when the server exits early or is not ready in time (the log path is in the message).
 */
export async function startBackground(config: DcsmConfig, mainPath: string, timeoutMs = 180_000): Promise<string> {
  const url = httpUrlOf(config);
  const files = controlFiles(config);
  const running = runningPid(config);
  if (running) return `DCSM already running (pid ${running}) on ${url}`;
  mkdirSync(resolve(config.dataDir), { recursive: true });
  const out = openSync(files.log, "a");
  const child = Bun.spawn([process.execPath, mainPath, "serve"], {
    stdio: ["ignore", out, out],
    env: {
      ...process.env,
      DCSM_HOST: config.host,
      DCSM_HTTP_PORT: String(config.httpPort),
      DCSM_GRPC_PORT: String(config.grpcPort),
      DCSM_DATA_DIR: resolve(config.dataDir),
    },
  });
  closeSync(out);
  child.unref();
  writeFileSync(files.pid, String(child.pid));
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || !alive(child.pid)) {
      rmSync(files.pid, { force: true });
      throw new Error(`dcsm serve exited during start-up; see ${files.log}`);
    }
    if ((await fetchHealth(url))?.status === "ok")
      return `DCSM started (pid ${child.pid}) on ${url}, model warmed up; log: ${files.log}`;
    await Bun.sleep(250);
  }
  throw new Error(`dcsm serve did not become ready within ${timeoutMs / 1000} s; see ${files.log}`);
}

/**
 * Stops the background server (SIGTERM, then waits up to `timeoutMs`, then SIGKILL).
 * @returns a message for the user ("not running" is not an error).
 */
export async function stopBackground(config: DcsmConfig, timeoutMs = 15_000): Promise<string> {
  const pid = runningPid(config);
  const { pid: pidFile } = controlFiles(config);
  if (!pid) {
    rmSync(pidFile, { force: true });
    return "DCSM is not running";
  }
  process.kill(pid, "SIGTERM");
  const deadline = Date.now() + timeoutMs;
  while (alive(pid) && Date.now() < deadline) await Bun.sleep(100);
  if (alive(pid)) process.kill(pid, "SIGKILL");
  rmSync(pidFile, { force: true });
  return `DCSM stopped (pid ${pid})`;
}

/**
 * Sends a small `/v1/embeddings` request, as an IDE would, and reports its latency.
 * @param url - server base URL.
 * @param apiKey - a key when the server requires one.
 * @throws Error with the HTTP status and OpenAI error message when the request fails.
 */
export async function warmupRequest(url: string, apiKey?: string): Promise<string> {
  const t0 = performance.now();
  const res = await fetch(`${url}/v1/embeddings`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}) },
    body: JSON.stringify({
      input: ["warm-up: function releaseLock(id) {}", "where are locks released?"],
      encoding_format: "base64",
    }),
  });
  const body = (await res.json()) as { data?: unknown[]; error?: { message: string } };
  if (res.status !== 200)
    throw new Error(`/v1/embeddings answered ${res.status}: ${body.error?.message ?? "unknown error"}`);
  return `/v1/embeddings answered ${body.data?.length} embeddings in ${(performance.now() - t0).toFixed(0)} ms`;
}
