/**
 * The web console at `/`, driven headless in a real Chromium (playwright-core + Debian's
 * `chromium`) against a real server with the real model: semantic search over GLM returns
 * results (gRPC-Web from the page), a KEM published by a second client appears in the live feed,
 * and a KEM published from the page's form reaches the second client (Connect from the page).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { chromium, type Browser } from "playwright-core";
import { createAgentSDK, kemText } from "../../sdk/index.ts";
import { startTestServer } from "../helpers/server.ts";
import { removeTempDirs } from "../helpers/temp-dir.ts";

const CHROMIUM = process.env.DCSM_CHROMIUM ?? "/usr/bin/chromium";
let server: Awaited<ReturnType<typeof startTestServer>>;
let browser: Browser;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: apt-get install chromium (.ci/run does) or set DCSM_CHROMIUM`);
  server = await startTestServer({ swmHeartbeatMs: 200 }); // the feed goes live on the first heartbeat
  const sdk = createAgentSDK({ baseUrl: server.httpUrl, agentId: "seeder" });
  await sdk.kps.processRawData({
    sourcePath: "notes.md",
    contentType: "text/markdown",
    rawContent: new TextEncoder().encode(
      "# Locks\n\nA distributed lock is released when its lease expires or its holder calls ReleaseLock.\n\n# Cooking\n\nBoil the pasta in salted water for nine minutes.\n",
    ),
    maxChunkChars: 120,
  });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    // playwright-core gives every launch a fresh temporary --user-data-dir itself.
  });
});
afterAll(async () => {
  await browser?.close();
  await server?.close();
  removeTempDirs();
});

test("console: search, live feed of another client's publish, publish from the page", async () => {
  const page = await browser.newPage();
  const pageErrors: string[] = [];
  page.on("pageerror", (e) => pageErrors.push(e.message));
  await page.goto(`${server.httpUrl}/`);
  await page.locator("#status", { hasText: "live" }).waitFor({ timeout: 15_000 });

  await page.fill("#search-text", "when is a lock released?");
  await page.click("#search-button");
  await page.locator("#search-status", { hasText: "results in" }).waitFor();
  const first = await page.locator("#results li").first().textContent();
  expect(first).toContain("lease expires"); // the lock paragraph ranks above the pasta one

  const other = createAgentSDK({ baseUrl: server.httpUrl, agentId: "second-client" });
  await Bun.sleep(100);
  const published = (await other.publishKemsToSwmBatch([{ content: "hello from the second client", metadata: { topic: "feed" } }])).kems[0]!;
  await page.locator(`#feed li[data-kem-id="${published.id}"]`).waitFor({ timeout: 10_000 });
  expect(await page.locator(`#feed li[data-kem-id="${published.id}"]`).textContent()).toContain("KEM_PUBLISHED");

  // Switch the page to Connect and publish from its form; the second client sees it in SWM.
  await page.goto(`${server.httpUrl}/?protocol=connect`);
  await page.locator("#status", { hasText: "live" }).waitFor({ timeout: 15_000 });
  await page.fill("#publish-content", "typed in the browser");
  await page.fill("#publish-topic", "from-page");
  await page.click("#publish-button");
  await page.locator("#publish-status", { hasText: "published" }).waitFor();
  const got = await other.loadKemsToLpaFromSwm({ metadataFilters: { topic: "from-page" } });
  expect(got.map(kemText)).toEqual(["typed in the browser"]);
  await page.locator("#feed li", { hasText: "typed in the browser" }).waitFor();
  expect(pageErrors).toEqual([]);
}, 90_000);
