/**
 * The web console's Memories view, driven headless in a real Chromium against a real server with
 * the real model (shared setup and seed: `fixtures/console.ts`): browsing newest first within the
 * key's namespace, metadata and date filters, a namespace outside the key refused, search in each
 * mode with its score, keyboard use; the detail dialog (long metadata wrapped, JSON
 * pretty-printed), editing content and metadata, and deleting after confirmation. The tests run
 * in order: the second edits and deletes a KEM the first counts.
 */
import { expect, test } from "bun:test";
import { createAgentSDK, kemText } from "../../sdk/index.ts";
import { consolePerFile, fitsWidth, keys, shoot, signIn } from "./fixtures/console.ts";

const ui = consolePerFile({ auth: true });

test("memories: browse newest first within the key's namespace, filter by metadata and dates, search in each mode", async () => {
  const { page, errors } = await ui.newPage();
  await signIn(page, keys.a.key, "agent-a");
  await page.locator("#mem-status", { hasText: "KEMs, newest first" }).waitFor();
  const rows = page.locator("#mem-rows tr");
  expect(await rows.count()).toBe(5); // 2 chunks + 3 stored; never team-b's
  expect(await page.textContent("#mem-rows")).not.toContain("team-b secret");
  expect(await rows.first().textContent()).toContain("Beta note"); // stored last
  expect(await fitsWidth(page)).toBe(true);
  await shoot(page, "memories");

  await page.fill("#mem-meta", "topic=alpha");
  await page.click("#mem-apply");
  await page.locator("#mem-status", { hasText: "1 KEMs" }).waitFor();
  expect(await rows.first().textContent()).toContain("Alpha decision");

  await page.fill("#mem-meta", "");
  await page.click("#mem-more summary");
  await page.fill("#mem-created-from", "2999-01-01T00:00:00");
  await page.click("#mem-apply");
  await page.locator("#mem-status", { hasText: "0 KEMs" }).waitFor();
  await page.fill("#mem-created-from", "2000-01-01T00:00:00");
  await page.click("#mem-apply");
  await page.locator("#mem-status", { hasText: "5 KEMs" }).waitFor();

  // A namespace outside the key's scopes is refused by the server, and said so.
  await page.fill("#mem-ns", "team-b");
  await page.click("#mem-apply");
  await page.locator("#mem-status", { hasText: "permission_denied" }).waitFor();
  await page.fill("#mem-ns", "team-a");

  for (const [mode, scoreName] of [
    ["hybrid", "RRF"],
    ["vector", "cosine"],
    ["lexical", "BM25"],
  ] as const) {
    await page.fill("#mem-q", mode === "lexical" ? "lock lease expires" : "when is a lock released?");
    await page.selectOption("#mem-mode", mode);
    await page.click("#mem-apply");
    await page.locator("#mem-status", { hasText: `results (${mode})` }).waitFor();
    expect(await rows.first().textContent()).toContain("lease expires");
    expect(await page.textContent("#mem-score-head")).toContain(scoreName);
    expect(Number(await rows.first().locator("td.score").textContent())).toBeGreaterThan(0);
    if (mode === "hybrid") await shoot(page, "memories-search");
  }
  // Keyboard: a row opens with Enter, Escape closes the dialog, arrow keys move between tabs.
  await page.locator("#mem-rows tr .row-open").first().focus();
  await page.keyboard.press("Enter");
  await page.locator("#kem-dialog[open]").waitFor();
  await page.keyboard.press("Escape");
  await page.locator("#kem-dialog").waitFor({ state: "hidden" });
  await page.locator("#tab-memories").focus();
  await page.keyboard.press("ArrowRight");
  await page.locator("#view-ingest").waitFor();
  expect(await page.evaluate(() => document.activeElement?.id)).toBe("tab-ingest");
  expect(errors).toEqual([]);
}, 90_000);

test("memories: detail wraps long metadata, pretty-prints JSON; edit content and metadata; delete after confirmation", async () => {
  const { page, errors } = await ui.newPage();
  await signIn(page, keys.a.key, "agent-a");
  const a = createAgentSDK({ baseUrl: ui.server.httpUrl, agentId: "checker", token: keys.a.key });

  await page.fill("#mem-meta", "topic=config");
  await page.click("#mem-apply");
  await page.locator("#mem-status", { hasText: "1 KEMs" }).waitFor();
  await page.click("#mem-rows tr .row-open");
  await page.locator("#kem-kind", { hasText: "JSON" }).waitFor();
  expect(await page.locator("#kem-dialog pre.content").first().textContent()).toContain('"backend": "redis",\n');
  await page.click("#kem-dialog-close");

  await page.fill("#mem-meta", "topic=alpha");
  await page.click("#mem-apply");
  await page.locator("#mem-status", { hasText: "1 KEMs" }).waitFor();
  const id = (await page.locator("#mem-rows tr").first().getAttribute("data-kem-id"))!;
  await page.click("#mem-rows tr .row-open");
  await page.locator("#kem-metadata").waitFor();
  // The 400-character metadata value wraps inside the dialog instead of running off the page.
  const box = await page.locator("#kem-metadata").boundingBox();
  const dialogBox = await page.locator("#kem-dialog").boundingBox();
  expect(box!.x + box!.width).toBeLessThanOrEqual(dialogBox!.x + dialogBox!.width);
  expect(await page.locator("#kem-metadata").evaluate((el) => el.scrollWidth <= el.clientWidth + 1)).toBe(true);
  await shoot(page, "memories-detail");

  await page.click("#kem-edit");
  await page.fill("#kem-edit-content", "Alpha decision (revised): fencing tokens for every holder.");
  await page.fill("#kem-edit-metadata", JSON.stringify({ topic: "alpha", namespace: "team-a", reviewed: true }));
  await shoot(page, "memories-edit");
  await page.click("#kem-save");
  await page.locator("#kem-status", { hasText: "saved at" }).waitFor();
  const updated = await a.getKem(id, { forceRemote: true });
  expect(kemText(updated!)).toBe("Alpha decision (revised): fencing tokens for every holder.");
  expect(updated!.metadata).toEqual({ topic: "alpha", namespace: "team-a", reviewed: true });

  await page.click("#kem-delete");
  await page.locator("#kem-delete-confirm").waitFor();
  expect(await a.getKem(id, { forceRemote: true })).toBeDefined(); // not before the confirmation
  await page.click("#kem-delete-confirm");
  await page.locator("#kem-dialog").waitFor({ state: "hidden" });
  await page.locator(`#mem-rows tr[data-kem-id="${id}"]`).waitFor({ state: "detached" });
  expect(await a.getKem(id, { forceRemote: true })).toBeUndefined();
  expect(errors).toEqual([]);
}, 60_000);
