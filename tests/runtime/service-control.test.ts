/**
 * `dcsm start | status | warmup | stop` as the VS Code tasks run them: a background server with a
 * pid file, ready only after warm-up, reachable by an OpenAI-style request, stopped gracefully.
 */
import { afterAll, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { runCli } from "../helpers/cli-process.ts";
import { removeTempDirs, tempDir } from "../helpers/temp-dir.ts";

afterAll(removeTempDirs);

function freePort(): number {
  const s = Bun.serve({ port: 0, fetch: () => new Response() });
  const port = s.port!;
  s.stop(true);
  return port;
}

test("start waits for warm-up, warmup embeds, stop ends the server and removes the pid file", async () => {
  const dataDir = tempDir();
  const port = freePort();
  const env = {
    DCSM_DATA_DIR: dataDir,
    DCSM_HTTP_PORT: String(port),
    DCSM_GRPC_PORT: String(freePort()),
    DCSM_URL: `http://127.0.0.1:${port}`,
    DCSM_WARMUP: "quick",
    DCSM_MODEL_OFFLINE: "1",
    DCSM_API_KEYS: "secret-key",
    DCSM_TOKEN: "secret-key", // `dcsm status` shows the details to an admin credential
  };
  try {
    const start = await runCli(["start"], env);
    expect(start.code).toBe(0);
    expect(start.stdout).toContain("model warmed up");
    expect(existsSync(join(dataDir, "dcsm.pid"))).toBe(true);
    expect((await runCli(["start"], env)).stdout).toContain("already running");
    const status = await runCli(["status"], env);
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout).embedding.ready).toBe(true);
    const warm = await runCli(["warmup"], env);
    expect(warm.stdout).toMatch(/answered 2 embeddings/);
    const denied = await runCli(["warmup"], { ...env, DCSM_API_KEYS: "" });
    expect(denied.code).toBe(1);
    expect(denied.stderr).toContain("401");
  } finally {
    const stop = await runCli(["stop"], env);
    expect(stop.stdout).toMatch(/stopped|not running/);
  }
  expect(existsSync(join(dataDir, "dcsm.pid"))).toBe(false);
  expect((await runCli(["status"], env)).code).toBe(1);
}, 120_000);
