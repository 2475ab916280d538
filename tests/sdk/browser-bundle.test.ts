/**
 * The browser entry bundles for browsers: no `node:`/`bun:` imports anywhere in its graph, and
 * it tree-shakes (an app using only LocalAgentMemory does not carry the transports).
 */
import { expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { removeTempDirs, tempDir } from "../helpers/temp-dir.ts";

const SDK = join(import.meta.dir, "..", "..", "sdk");

async function bundle(source: string): Promise<string> {
  const dir = tempDir("dcsm-bundle-");
  const entry = join(dir, "app.ts");
  writeFileSync(entry, source);
  const r = await Bun.build({ entrypoints: [entry], target: "browser", format: "esm", minify: true });
  if (!r.success) throw new AggregateError(r.logs, r.logs.map(String).join("\n"));
  return r.outputs[0]!.text();
}

test("sdk/index.ts bundles for the browser without node: or bun: modules", async () => {
  const js = await bundle(
    `import { createAgentSDK } from ${JSON.stringify(join(SDK, "index.ts"))};\nexport const sdk = createAgentSDK({ baseUrl: location.origin, protocol: "grpc-web", agentId: "x" });\n`,
  );
  expect(js).not.toMatch(/["'](node|bun):/);
  expect(js).toContain("application/grpc-web");
  expect(js.length).toBeLessThan(250_000); // 179 KB minified when written
  removeTempDirs();
});

test("tree-shaking: LocalAgentMemory alone leaves the transports out", async () => {
  const js = await bundle(
    `import { LocalAgentMemory } from ${JSON.stringify(join(SDK, "index.ts"))};\nexport const m = new LocalAgentMemory({ maxEntries: 5 });\n`,
  );
  expect(js).not.toContain("application/grpc-web");
  expect(js).not.toContain("connect-protocol-version");
  expect(js.length).toBeLessThan(40_000); // 23 KB (lru-cache) when written
  removeTempDirs();
});

test("the server entry is the one that pulls in node:http2", async () => {
  const dir = tempDir("dcsm-bundle-");
  const entry = join(dir, "app.ts");
  writeFileSync(entry, `export * from ${JSON.stringify(join(SDK, "server.ts"))};\n`);
  const r = await Bun.build({ entrypoints: [entry], target: "node", format: "esm" });
  expect(r.success).toBe(true);
  expect(await r.outputs[0]!.text()).toMatch(/["']node:http2["']|["']http2["']/);
  removeTempDirs();
});
