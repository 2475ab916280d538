/**
 * The web console with authentication off, driven headless in a real Chromium against a real
 * server with the real model (shared setup: `fixtures/console.ts`): signed in as anonymous with
 * every view, search and the live feed over Connect; and `GET /whoami` answering anonymous.
 */
import { expect, test } from "bun:test";
import { createAgentSDK } from "../../sdk/index.ts";
import { consolePerFile, shoot } from "./fixtures/console.ts";

const ui = consolePerFile({ auth: false });

test("the page opens signed in as anonymous with every view; search and the live feed work (Connect)", async () => {
  const { page, errors } = await ui.newPage();
  await page.goto(`${ui.server.httpUrl}/?protocol=connect`);
  await page.locator("#who", { hasText: "anonymous" }).waitFor();
  expect(await page.isHidden("#signout")).toBe(true);
  expect(await page.isVisible("#tab-ingest")).toBe(true);
  await page.fill("#mem-q", "when is a lock released?");
  await page.click("#mem-apply");
  await page.locator("#mem-status", { hasText: "results (hybrid)" }).waitFor();
  expect(await page.locator("#mem-rows tr").first().textContent()).toContain("lease expires");
  await page.click("#tab-working");
  await page.locator("#ev-state", { hasText: "live" }).waitFor({ timeout: 15_000 });
  const other = createAgentSDK({ baseUrl: ui.server.httpUrl, agentId: "second-client" });
  const k = (await other.publishKemsToSwmBatch([{ content: "hello without auth" }])).kems[0]!;
  await page.locator(`#ev-feed li[data-kem-id="${k.id}"]`).waitFor({ timeout: 10_000 });
  await page.click("#tab-status");
  await page.locator(".card", { hasText: "KEMs in GLM" }).waitFor(); // details without auth
  await shoot(page, "status-open");
  expect(errors).toEqual([]);
}, 60_000);

test("GET /whoami without authentication: anonymous with every right on every namespace", async () => {
  expect(await (await fetch(`${ui.server.httpUrl}/whoami`)).json()).toMatchObject({
    authEnabled: false,
    principal: "anonymous",
    scopes: { "*": ["read", "write", "publish", "subscribe", "lock", "admin"] },
  });
});
