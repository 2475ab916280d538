/**
 * The web console's Status view, driven headless in a real Chromium against a real server (shared
 * setup: `fixtures/console.ts`): the details an admin sees, and readiness only for a scoped key.
 */
import { expect, test } from "bun:test";
import { consolePerFile, keys, shoot, signIn } from "./fixtures/console.ts";

const ui = consolePerFile({ auth: true });

test("status: an admin sees counts, index, embedding queue and cache, SWM backend; a scoped key sees readiness only", async () => {
  const { page, errors } = await ui.newPage();
  await signIn(page, keys.admin.key, "ops");
  await page.click("#tab-status");
  await page.locator("#status-ready", { hasText: "ready" }).waitFor();
  await page.locator(".card", { hasText: "KEMs in GLM" }).waitFor();
  const cards = await page.textContent("#status-cards");
  expect(cards).toContain("vector index");
  expect(cards).toContain("embedding cache");
  expect(cards).toContain("SWM backendmemory");
  expect(cards).toMatch(/SWM working set\d+ KEMs/);
  await shoot(page, "status-admin");

  const scoped = await ui.newPage();
  await signIn(scoped.page, keys.a.key, "agent-a");
  await scoped.page.click("#tab-status");
  await scoped.page.locator("#status-ready", { hasText: "ready" }).waitFor();
  await scoped.page.locator("#status-note").waitFor();
  expect(await scoped.page.textContent("#status-cards")).not.toContain("KEMs in GLM");
  expect(await scoped.page.textContent("#status-scopes")).toContain("team-a");
  await shoot(scoped.page, "status-scoped");
  expect([...errors, ...scoped.errors]).toEqual([]);
}, 60_000);
