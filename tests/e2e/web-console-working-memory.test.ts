/**
 * The web console's Working memory view, driven headless in a real Chromium against a real server
 * (shared setup: `fixtures/console.ts`): a KEM published by another client arriving in the live
 * feed (never another tenant's), pause and resume from a sequence number replaying missed events,
 * the feed's text filter, the working set, a lock held by another agent with its holder, lease and
 * fencing token, and a counter.
 */
import { expect, test } from "bun:test";
import { createAgentSDK } from "../../sdk/index.ts";
import { consolePerFile, keys, shoot, signIn } from "./fixtures/console.ts";

const ui = consolePerFile({ auth: true });

test("working memory: another client's event arrives, pause and resume replay missed events, a lock held by another agent, a counter", async () => {
  const { page, errors } = await ui.newPage();
  await signIn(page, keys.a.key, "agent-a");
  await page.click("#tab-working");
  await page.locator("#ev-state", { hasText: "live" }).waitFor({ timeout: 15_000 });
  const other = createAgentSDK({ baseUrl: ui.server.httpUrl, agentId: "other-agent", token: keys.a.key });
  const first = (
    await other.publishKemsToSwmBatch([{ content: "hello from the other agent", metadata: { topic: "feed" } }])
  ).kems[0]!;
  await page.locator(`#ev-feed li[data-kem-id="${first.id}"]`).waitFor({ timeout: 10_000 });
  expect(await page.locator(`#ev-feed li[data-kem-id="${first.id}"]`).textContent()).toContain("KEM_PUBLISHED");
  // Another tenant's event never reaches this page.
  const b = createAgentSDK({ baseUrl: ui.server.httpUrl, agentId: "agent-b", token: keys.b.key });
  const foreign = (await b.publishKemsToSwmBatch([{ content: "team-b working note", metadata: { topic: "feed" } }]))
    .kems[0]!;

  await page.click("#ev-pause");
  await page.locator("#ev-state", { hasText: "paused" }).waitFor();
  const missed = (await other.publishKemsToSwmBatch([{ content: "sent while paused", metadata: { topic: "feed" } }]))
    .kems[0]!;
  await Bun.sleep(500);
  expect(await page.locator(`#ev-feed li[data-kem-id="${missed.id}"]`).count()).toBe(0);
  expect(await page.inputValue("#ev-resume-seq")).toMatch(/^\d+$/);
  await page.click("#ev-resume");
  await page.locator(`#ev-feed li[data-kem-id="${missed.id}"]`).waitFor({ timeout: 10_000 });
  expect(await page.locator(`#ev-feed li[data-kem-id="${foreign.id}"]`).count()).toBe(0);
  // The text filter hides non-matching entries.
  await page.fill("#ev-filter", "while paused");
  expect(await page.locator(`#ev-feed li[data-kem-id="${first.id}"]`).isHidden()).toBe(true);
  expect(await page.locator(`#ev-feed li[data-kem-id="${missed.id}"]`).isVisible()).toBe(true);
  await page.fill("#ev-filter", "");

  await page.fill("#swm-meta", "topic=feed");
  await page.click("#swm-apply");
  await page.locator("#swm-status", { hasText: "2 KEMs in the working set" }).waitFor();

  const lock = await other.acquireDistributedLock("team-a/build-index", { leaseMs: 60_000 });
  expect(lock.lockId).not.toBe("");
  await page.fill("#lock-resource", "team-a/build-index");
  await page.click("#lock-watch");
  const row = page.locator('#lock-rows tr[data-resource="team-a/build-index"][data-locked="true"]');
  await row.waitFor();
  expect(await row.locator(".holder").textContent()).toBe("other-agent");
  expect(await row.locator(".fencing").textContent()).toBe(lock.fencingToken.toString());
  expect(Number.parseFloat((await row.locator(".lease").textContent())!)).toBeGreaterThan(50);
  await other.incrementDistributedCounter("team-a/jobs-done", 3);
  await page.fill("#counter-id", "team-a/jobs-done");
  await page.click("#counter-watch");
  await page.locator('#counter-rows tr[data-counter="team-a/jobs-done"] .value', { hasText: "3" }).waitFor();
  await shoot(page, "working-memory");
  // Released by its holder: the watched row turns free on the next read.
  await other.releaseDistributedLock("team-a/build-index", lock.lockId);
  await page
    .locator('#lock-rows tr[data-resource="team-a/build-index"][data-locked="false"]')
    .waitFor({ timeout: 5000 });
  expect(errors).toEqual([]);
}, 90_000);
