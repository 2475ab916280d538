/**
 * The single executable: `scripts/build-binary.ts` (`bun build --compile`) makes one `dcsm` file;
 * run from an empty folder with a bare environment (no repository, no DCSM_MODEL_DIR) it serves
 * the web console and every service — the embedded model embeds text (onnxruntime-node's native
 * addon), the HNSW index's worker thread and usearch addon start, KPS chunks TypeScript with
 * tree-sitter, SWM streams events — over Connect, gRPC-Web and gRPC.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { type Subprocess, spawn } from "bun";
import { buildBinary } from "../../scripts/build-binary.ts";
import { createAgentSDK, EventType, kemText } from "../../sdk/server.ts";
import { removeTempDirs, tempDir } from "../helpers/temp-dir.ts";
import { waitFor } from "../helpers/wait-for.ts";

let proc: Subprocess<"ignore", "pipe", "pipe"> | undefined;
let httpUrl = "";
let grpcUrl = "";
let home = "";
/** Everything the executable wrote to stdout, complete once `outDone` resolves. */
let out = "";
let outDone: Promise<void> = Promise.resolve();

beforeAll(async () => {
  const dir = tempDir("dcsm-binary-");
  const { outfile } = await buildBinary(join(dir, "dcsm"));
  home = tempDir("dcsm-binary-run-");
  proc = spawn([outfile, "serve"], {
    cwd: home,
    env: {
      PATH: "/usr/bin:/bin",
      HOME: home,
      DCSM_HTTP_PORT: "0",
      DCSM_GRPC_PORT: "0",
      DCSM_MODEL_OFFLINE: "true",
      DCSM_WARMUP: "quick",
      DCSM_LOG_LEVEL: "warn",
      DCSM_SWM_HEARTBEAT_MS: "200",
    },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const reader = proc.stdout.getReader();
  const deadline = Date.now() + 90_000;
  while (!/gRPC on (\S+)/.test(out)) {
    if (Date.now() > deadline) throw new Error(`dcsm did not start: ${out}`);
    const r = await reader.read();
    if (r.done)
      throw new Error(`dcsm exited (${await proc.exited}): ${out}\n${await new Response(proc.stderr).text()}`);
    out += new TextDecoder().decode(r.value);
  }
  outDone = (async () => {
    for (let r = await reader.read(); !r.done; r = await reader.read()) out += new TextDecoder().decode(r.value);
  })();
  const m = /on (\S+) and gRPC on (\S+)/.exec(out)!;
  httpUrl = m[1]!;
  grpcUrl = m[2]!;
}, 120_000);

afterAll(async () => {
  proc?.kill("SIGTERM");
  await proc?.exited;
  removeTempDirs();
});

test("the executable serves the console and all services from an empty folder", async () => {
  // Only its own data, and the unpacked native files and model under $HOME/.cache/dcsm.
  expect(readdirSync(home).sort()).toEqual([".cache", "data"]);
  const page = await fetch(`${httpUrl}/`);
  const html = await page.text();
  expect(html).toContain("DCSM console");
  const script = /src="([^"]+\.js)"/.exec(html)?.[1];
  expect((await fetch(new URL(script!, httpUrl))).status).toBe(200);

  const sdk = createAgentSDK({ baseUrl: httpUrl, protocol: "connect", agentId: "bin" });
  const ingest = await sdk.kps.processRawData({
    sourcePath: "src/locks.ts",
    contentType: "text/x-typescript",
    rawContent: new TextEncoder().encode(
      "/** Releases a lock when its lease ends. */\nexport function releaseLock(id: string): void {\n  console.log(id);\n}\n\nexport class PastaTimer {\n  boilMinutes = 9;\n}\n",
    ),
  });
  expect(ingest.success).toBe(true);
  const hits = await sdk.searchGlm("how is a lock released", { pageSize: 2 });
  expect(hits.kems.length).toBeGreaterThan(0);
  expect(kemText(hits.kems[0]!)).toContain("releaseLock");
  expect(hits.kems[0]!.metadata?.language).toBe("typescript");

  const seen: string[] = [];
  const sub = sdk.handleSwmEvents(
    {},
    (ev) => void (ev.eventType === EventType.KEM_PUBLISHED && seen.push(ev.kemPayload!.id)),
  );
  await sub.ready;
  const grpc = createAgentSDK({ baseUrl: grpcUrl, agentId: "bin-grpc" }); // gRPC over HTTP/2
  const web = createAgentSDK({ baseUrl: httpUrl, protocol: "grpc-web", agentId: "bin-web" });
  const [published] = (await grpc.publishKemsToSwmBatch([{ content: "from gRPC" }])).kems;
  await waitFor(() => seen.includes(published!.id), { what: "the KEM_PUBLISHED event of the gRPC publish" });
  expect(seen).toContain(published!.id);
  expect(kemText((await web.getKem(published!.id))!)).toBe("from gRPC");
  sub.close();
  await sub.done;
}, 60_000);

test("every worker thread started inside the executable (none fell back)", async () => {
  proc!.kill("SIGTERM");
  await proc!.exited;
  await outDone;
  const log = out + (await new Response(proc!.stderr).text());
  expect(log).not.toContain("lexical search thread failed");
  expect(log).not.toContain("HNSW graph unavailable");
});

test("the unpacked cache holds the native addons and the model", () => {
  const cache = join(home, ".cache", "dcsm");
  const [build] = readdirSync(cache);
  for (const f of [
    "native/libonnxruntime.so.1",
    "native/onnxruntime_binding.node",
    "native/usearch.node",
    "models/all-MiniLM-L6-v2/onnx/model_quantized.onnx",
  ]) {
    expect(existsSync(join(cache, build!, f))).toBe(true);
  }
});
