/**
 * The SDK under Deno (npm package `deno`): a Deno process imports `sdk/index.ts` (as exported by
 * deno.json) and round-trips a KEM over Connect against a real server started here.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import { spawn } from "bun";
import { REPO_ROOT } from "../../runtime/config.ts";
import { startTestServer } from "../helpers/server.ts";
import { removeTempDirs } from "../helpers/temp-dir.ts";

let server: Awaited<ReturnType<typeof startTestServer>>;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server.close();
  removeTempDirs();
});

test("Deno imports the SDK and round-trips a KEM over Connect", async () => {
  const deno = join(REPO_ROOT, "node_modules", ".bin", "deno");
  const url = new URL(server.httpUrl);
  const p = spawn([deno, "run", "--quiet", `--allow-net=${url.host}`, "--allow-read=.", "--allow-env", "--no-prompt", join(import.meta.dir, "fixtures", "deno-agent.ts"), server.httpUrl], {
    cwd: REPO_ROOT,
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" },
  });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  expect(err).toBe("");
  expect(code).toBe(0);
  const r = JSON.parse(out.trim());
  expect(r.deno).toMatch(/^2\./);
  expect(r).toMatchObject({ fromGlm: "stored from Deno", published: 1, fromSwm: "published from Deno", local: ["published from Deno"] });
}, 60_000);
