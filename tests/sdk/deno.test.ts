/**
 * The SDK under Deno (npm package `deno`): `deno check` type-checks the entry deno.json exports,
 * and a Deno process imports `sdk/index.ts` and round-trips a KEM over Connect against a real
 * server started here.
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

const deno = join(REPO_ROOT, "node_modules", ".bin", "deno");
const denoEnv = { ...process.env, DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" };

test("deno check accepts the SDK entry that deno.json exports", async () => {
  const exported = JSON.parse(await Bun.file(join(REPO_ROOT, "deno.json")).text()).exports["."];
  expect(exported).toBe("./sdk/index.ts");
  const p = spawn([deno, "check", "--quiet", exported], {
    cwd: REPO_ROOT,
    stdout: "pipe",
    stderr: "pipe",
    env: denoEnv,
  });
  const [err, code] = await Promise.all([new Response(p.stderr).text(), p.exited]);
  expect(err).toBe("");
  expect(code).toBe(0);
}, 60_000);

test("Deno imports the SDK and round-trips a KEM over Connect", async () => {
  const url = new URL(server.httpUrl);
  const p = spawn(
    [
      deno,
      "run",
      "--quiet",
      `--allow-net=${url.host}`,
      "--allow-read=.",
      "--allow-env",
      "--no-prompt",
      join(import.meta.dir, "fixtures", "deno-agent.ts"),
      server.httpUrl,
    ],
    {
      cwd: REPO_ROOT,
      stdout: "pipe",
      stderr: "pipe",
      env: denoEnv,
    },
  );
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  expect(err).toBe("");
  expect(code).toBe(0);
  const r = JSON.parse(out.trim());
  expect(r.deno).toMatch(/^2\./);
  expect(r).toMatchObject({
    fromGlm: "stored from Deno",
    published: 1,
    fromSwm: "published from Deno",
    local: ["published from Deno"],
  });
}, 60_000);
