/**
 * The web console at `/`, driven headless in a real Chromium (playwright-core + Debian's
 * `chromium`) against real servers with the real model and a real keys file: sign-in with a
 * scoped API key (and refusal of a wrong one), browsing with namespace, metadata and date filters,
 * search in each mode with scores, opening, editing and deleting a KEM, ingesting a file with its
 * chunks' line ranges, a KEM published by another client arriving in the live feed (and, after a
 * pause, replayed on resume from its sequence), a lock held by another agent with its holder,
 * lease and fencing token, a counter, the status view for an admin and a scoped key, a read-only
 * key that is offered no writes; and the same page with authentication off. Screenshots of each
 * view at 1280 and 390 px go to test-artifacts/console/ (ignored by git).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { SignJWT } from "jose";
import { chromium, type Browser, type Page } from "playwright-core";
import { newApiKey } from "../../runtime/auth/authenticator.ts";
import { createAgentSDK, kemText } from "../../sdk/index.ts";
import { startTestServer } from "../helpers/server.ts";
import { removeTempDirs, tempDir } from "../helpers/temp-dir.ts";

const CHROMIUM = process.env.DCSM_CHROMIUM ?? "/usr/bin/chromium";
const ARTIFACTS = join(import.meta.dir, "../../test-artifacts/console");
const WIDTHS = { wide: { width: 1280, height: 900 }, narrow: { width: 390, height: 844 } } as const;

const ALL = "read,write,publish,subscribe,lock";
const keyA = newApiKey("agent-a", [`team-a:${ALL}`]);
const keyB = newApiKey("agent-b", [`team-b:${ALL}`]);
const keyReader = newApiKey("reader-a", ["team-a:read"]);
const keyAdmin = newApiKey("ops", ["*:admin"]);

const JWT_SECRET = "an HS256 secret of at least thirty-two bytes for the console";

const NOTES = "# Locks\n\nA distributed lock is released when its lease expires or its holder calls ReleaseLock.\n\n# Cooking\n\nBoil the pasta in salted water for nine minutes.\n";

let server: Awaited<ReturnType<typeof startTestServer>>;
let open: Awaited<ReturnType<typeof startTestServer>>;
let browser: Browser;

async function newPage(base: string, size: { width: number; height: number } = WIDTHS.wide): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage({ viewport: size });
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(`${base}/`);
  return { page, errors };
}

async function signIn(page: Page, key: string, who: string): Promise<void> {
  await page.locator("#signin-token").waitFor();
  await page.fill("#signin-token", key);
  await page.click("#signin-button");
  await page.locator("#who", { hasText: who }).waitFor();
}

/** Saves the page at both widths and checks nothing runs off the right edge at either (the viewport is restored after). */
async function shoot(page: Page, name: string): Promise<void> {
  const before = page.viewportSize()!;
  for (const [label, size] of Object.entries(WIDTHS)) {
    await page.setViewportSize(size);
    await Bun.sleep(150);
    await page.screenshot({ path: join(ARTIFACTS, `${name}-${label}.png`), fullPage: false });
    expect({ view: name, label, fits: await fitsWidth(page) }).toEqual({ view: name, label, fits: true });
  }
  await page.setViewportSize(before);
}

/** True when no element of the page is wider than the viewport (nothing runs off the right edge). */
async function fitsWidth(page: Page): Promise<boolean> {
  return page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1);
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: apt-get install chromium (.ci/run does) or set DCSM_CHROMIUM`);
  mkdirSync(ARTIFACTS, { recursive: true });
  const keysFile = join(tempDir("dcsm-console-keys-"), "keys.json");
  writeFileSync(keysFile, JSON.stringify({ keys: [keyA.entry, keyB.entry, keyReader.entry, keyAdmin.entry] }));
  server = await startTestServer({ apiKeysFile: keysFile, jwtSecret: JWT_SECRET, swmHeartbeatMs: 200 });
  open = await startTestServer({ swmHeartbeatMs: 200 });
  const a = createAgentSDK({ baseUrl: server.httpUrl, agentId: "seeder-a", token: keyA.key });
  await a.kps.processRawData({ sourcePath: "notes.md", contentType: "text/markdown", rawContent: new TextEncoder().encode(NOTES), maxChunkChars: 120 });
  const stored = await a.storeKems([
    { content: "Alpha decision: use fencing tokens for every lock holder.", metadata: { topic: "alpha", long_note: "x".repeat(400) } },
    { content: JSON.stringify({ service: "swm", backend: "redis", replicas: 3 }), contentType: "application/json", metadata: { topic: "config" } },
    { content: "Beta note about the embedding cache.", metadata: { topic: "beta" } },
  ]);
  expect(stored.failed).toEqual([]);
  const b = createAgentSDK({ baseUrl: server.httpUrl, agentId: "seeder-b", token: keyB.key });
  expect((await b.storeKems([{ content: "team-b secret: the launch code is 0000", metadata: { topic: "alpha" } }])).failed).toEqual([]);
  const o = createAgentSDK({ baseUrl: open.httpUrl, agentId: "seeder-open" });
  await o.kps.processRawData({ sourcePath: "notes.md", contentType: "text/markdown", rawContent: new TextEncoder().encode(NOTES), maxChunkChars: 120 });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
});
afterAll(async () => {
  await browser?.close();
  await server?.close();
  await open?.close();
  removeTempDirs();
});

describe("with authentication", () => {
  test("sign-in: a wrong key is refused, a scoped key shows its principal and namespaces, the key stays in sessionStorage only; a JWT with two namespaces; an expired JWT signs out", async () => {
    const { page, errors } = await newPage(server.httpUrl);
    await page.locator("#signin-status", { hasText: "requires an API key" }).waitFor();
    await shoot(page, "signin");
    await page.fill("#signin-token", "dcsm_not-a-key");
    await page.click("#signin-button");
    await page.locator("#signin-status", { hasText: "unknown API key" }).waitFor();
    await signIn(page, keyA.key, "agent-a");
    expect(await page.textContent("#who-scopes")).toContain("team-a: read,write,publish,subscribe,lock");
    expect(await page.evaluate(() => [sessionStorage.length, localStorage.length, document.cookie])).toEqual([1, 0, ""]);
    // A reload keeps the session (same tab); signing out forgets the key.
    await page.reload();
    await page.locator("#who", { hasText: "agent-a" }).waitFor();
    await page.click("#signout");
    await page.locator("#signin").waitFor();
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
    expect(await page.textContent("#who")).toBe("not signed in");

    // A JWT (HS256, OAuth 2 "scope" claim) signs in the same way.
    const jwt = await new SignJWT({ scope: "team-a:read team-b:read" }).setProtectedHeader({ alg: "HS256" }).setSubject("jwt-reader").setIssuedAt().setExpirationTime("5m").sign(new TextEncoder().encode(JWT_SECRET));
    await signIn(page, jwt, "jwt-reader");
    expect(await page.textContent("#who-scopes")).toBe("team-a: read · team-b: read");
    expect(await page.isHidden("#tab-ingest")).toBe(true);
    // Two readable namespaces: the table shows the first one's KEMs, and switching shows the other's.
    await page.locator("#mem-status", { hasText: "5 KEMs" }).waitFor();
    await page.fill("#mem-ns", "team-b");
    await page.click("#mem-apply");
    await page.locator("#mem-status", { hasText: "1 KEMs" }).waitFor();
    expect(await page.textContent("#mem-rows")).toContain("team-b secret");

    // When the JWT expires, the next call sends the page back to sign-in, saying why.
    await page.click("#signout");
    const shortJwt = await new SignJWT({ scope: "team-a:read" }).setProtectedHeader({ alg: "HS256" }).setSubject("short-lived").setIssuedAt().setExpirationTime(Math.floor(Date.now() / 1000) + 2).sign(new TextEncoder().encode(JWT_SECRET));
    await signIn(page, shortJwt, "short-lived");
    await page.locator("#mem-status", { hasText: "5 KEMs" }).waitFor();
    await Bun.sleep(2500);
    await page.click("#mem-apply");
    await page.locator("#signin-status", { hasText: "refused the credentials" }).waitFor();
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
    expect(errors).toEqual([]);
  }, 60_000);

  test("memories: browse newest first within the key's namespace, filter by metadata and dates, search in each mode", async () => {
    const { page, errors } = await newPage(server.httpUrl);
    await signIn(page, keyA.key, "agent-a");
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

    for (const [mode, scoreName] of [["hybrid", "RRF"], ["vector", "cosine"], ["lexical", "BM25"]] as const) {
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
    const { page, errors } = await newPage(server.httpUrl);
    await signIn(page, keyA.key, "agent-a");
    const a = createAgentSDK({ baseUrl: server.httpUrl, agentId: "checker", token: keyA.key });

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

  test("a read-only key is offered no ingest, edit or delete", async () => {
    const { page, errors } = await newPage(server.httpUrl);
    await signIn(page, keyReader.key, "reader-a");
    await page.locator("#mem-status", { hasText: "KEMs, newest first" }).waitFor();
    expect(await page.isHidden("#tab-ingest")).toBe(true);
    await page.click("#mem-rows tr .row-open");
    await page.locator("#kem-dialog", { hasText: "read only" }).waitFor();
    expect(await page.locator("#kem-edit, #kem-delete").count()).toBe(0);
    await page.click("#kem-dialog-close");
    await page.click("#tab-working");
    expect(await page.isHidden("#swm-events")).toBe(true); // no subscribe right
    expect(errors).toEqual([]);
  }, 60_000);

  test("ingest: chosen, dropped and pasted files are chunked and stored, each chunk shown with its line range", async () => {
    const { page, errors } = await newPage(server.httpUrl);
    await signIn(page, keyA.key, "agent-a");
    await page.click("#tab-ingest");
    const md = "# Guide\n\nRedis holds the working set.\n\n## Locks\n\nLocks carry a fencing token that grows with every grant.\n\n## Events\n\nEvents are replayed after a reconnect.\n";
    await page.fill("#ingest-chunk", "60");
    await page.setInputFiles("#ingest-files", { name: "guide.md", mimeType: "text/markdown", buffer: Buffer.from(md) });
    const item = page.locator('.ingest-item[data-name="guide.md"]');
    await item.and(page.locator('[data-state="done"]')).waitFor({ timeout: 60_000 });
    const chunks = item.locator(".chunk");
    expect(await chunks.count()).toBeGreaterThan(1);
    expect(await chunks.first().textContent()).toMatch(/lines 1–\d+/);
    const a = createAgentSDK({ baseUrl: server.httpUrl, agentId: "checker", token: keyA.key });
    const got = await a.glm.retrieveKEMs({ query: { metadataFilters: { source_path: { kind: { case: "stringValue", value: "guide.md" } }, namespace: { kind: { case: "stringValue", value: "team-a" } } } }, pageSize: 50 });
    expect(got.kems.length).toBe(await chunks.count());
    // A file dropped on the drop zone (a real DragEvent carrying a File) goes the same way.
    await page.evaluate(() => {
      const dt = new DataTransfer();
      dt.items.add(new File(["# Dropped\n\nDropped files are ingested too.\n"], "dropped.md", { type: "text/markdown" }));
      document.getElementById("ingest-drop")!.dispatchEvent(new DragEvent("drop", { dataTransfer: dt, bubbles: true, cancelable: true }));
    });
    await page.locator('.ingest-item[data-name="dropped.md"][data-state="done"]').waitFor({ timeout: 60_000 });
    // Pasted text goes the same way.
    await page.fill("#ingest-text", "Pasted: counters count jobs.");
    await page.fill("#ingest-name", "pasted.txt");
    await page.click("#ingest-paste");
    await page.locator('.ingest-item[data-name="pasted.txt"][data-state="done"]').waitFor({ timeout: 60_000 });
    // Code keeps its language: a pasted TypeScript file's chunk opens as code.
    await page.fill("#ingest-text", "export function leaseLeft(expiresAtMs: number): number {\n  return Math.max(0, expiresAtMs - Date.now());\n}\n");
    await page.fill("#ingest-name", "lease.ts");
    await page.fill("#ingest-chunk", "0"); // the server's default: the function stays one chunk
    await page.click("#ingest-paste");
    const ts = page.locator('.ingest-item[data-name="lease.ts"][data-state="done"]');
    await ts.waitFor({ timeout: 60_000 });
    await ts.locator(".chunk button").first().click();
    await page.locator("#kem-kind", { hasText: "code · typescript" }).waitFor();
    expect(await page.locator("#kem-dialog pre.code code").textContent()).toContain("Math.max(0, expiresAtMs - Date.now())");
    await shoot(page, "ingest-code-chunk");
    await page.click("#kem-dialog-close");
    await shoot(page, "ingest");
    expect(errors).toEqual([]);
  }, 120_000);

  test("working memory: another client's event arrives, pause and resume replay missed events, a lock held by another agent, a counter", async () => {
    const { page, errors } = await newPage(server.httpUrl);
    await signIn(page, keyA.key, "agent-a");
    await page.click("#tab-working");
    await page.locator("#ev-state", { hasText: "live" }).waitFor({ timeout: 15_000 });
    const other = createAgentSDK({ baseUrl: server.httpUrl, agentId: "other-agent", token: keyA.key });
    const first = (await other.publishKemsToSwmBatch([{ content: "hello from the other agent", metadata: { topic: "feed" } }])).kems[0]!;
    await page.locator(`#ev-feed li[data-kem-id="${first.id}"]`).waitFor({ timeout: 10_000 });
    expect(await page.locator(`#ev-feed li[data-kem-id="${first.id}"]`).textContent()).toContain("KEM_PUBLISHED");
    // Another tenant's event never reaches this page.
    const b = createAgentSDK({ baseUrl: server.httpUrl, agentId: "agent-b", token: keyB.key });
    const foreign = (await b.publishKemsToSwmBatch([{ content: "team-b working note", metadata: { topic: "feed" } }])).kems[0]!;

    await page.click("#ev-pause");
    await page.locator("#ev-state", { hasText: "paused" }).waitFor();
    const missed = (await other.publishKemsToSwmBatch([{ content: "sent while paused", metadata: { topic: "feed" } }])).kems[0]!;
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
    await page.locator('#lock-rows tr[data-resource="team-a/build-index"][data-locked="false"]').waitFor({ timeout: 5000 });
    expect(errors).toEqual([]);
  }, 90_000);

  test("status: an admin sees counts, index, embedding queue and cache, SWM backend; a scoped key sees readiness only", async () => {
    const { page, errors } = await newPage(server.httpUrl);
    await signIn(page, keyAdmin.key, "ops");
    await page.click("#tab-status");
    await page.locator("#status-ready", { hasText: "ready" }).waitFor();
    await page.locator(".card", { hasText: "KEMs in GLM" }).waitFor();
    const cards = await page.textContent("#status-cards");
    expect(cards).toContain("vector index");
    expect(cards).toContain("embedding cache");
    expect(cards).toContain("SWM backendmemory");
    expect(cards).toMatch(/SWM working set\d+ KEMs/);
    await shoot(page, "status-admin");

    const scoped = await newPage(server.httpUrl);
    await signIn(scoped.page, keyA.key, "agent-a");
    await scoped.page.click("#tab-status");
    await scoped.page.locator("#status-ready", { hasText: "ready" }).waitFor();
    await scoped.page.locator("#status-note").waitFor();
    expect(await scoped.page.textContent("#status-cards")).not.toContain("KEMs in GLM");
    expect(await scoped.page.textContent("#status-scopes")).toContain("team-a");
    await shoot(scoped.page, "status-scoped");
    expect([...errors, ...scoped.errors]).toEqual([]);
  }, 60_000);
});

describe("without authentication", () => {
  test("the page opens signed in as anonymous with every view; search and the live feed work (Connect)", async () => {
    const { page, errors } = await newPage(`${open.httpUrl}`);
    await page.goto(`${open.httpUrl}/?protocol=connect`);
    await page.locator("#who", { hasText: "anonymous" }).waitFor();
    expect(await page.isHidden("#signout")).toBe(true);
    expect(await page.isVisible("#tab-ingest")).toBe(true);
    await page.fill("#mem-q", "when is a lock released?");
    await page.click("#mem-apply");
    await page.locator("#mem-status", { hasText: "results (hybrid)" }).waitFor();
    expect(await page.locator("#mem-rows tr").first().textContent()).toContain("lease expires");
    await page.click("#tab-working");
    await page.locator("#ev-state", { hasText: "live" }).waitFor({ timeout: 15_000 });
    const other = createAgentSDK({ baseUrl: open.httpUrl, agentId: "second-client" });
    const k = (await other.publishKemsToSwmBatch([{ content: "hello without auth" }])).kems[0]!;
    await page.locator(`#ev-feed li[data-kem-id="${k.id}"]`).waitFor({ timeout: 10_000 });
    await page.click("#tab-status");
    await page.locator(".card", { hasText: "KEMs in GLM" }).waitFor(); // details without auth
    await shoot(page, "status-open");
    expect(errors).toEqual([]);
  }, 60_000);

  test("GET /whoami: anonymous without auth; 401 without or with a wrong key, the principal and scopes with a good one", async () => {
    expect(await (await fetch(`${open.httpUrl}/whoami`)).json()).toMatchObject({ authEnabled: false, principal: "anonymous", scopes: { "*": ["read", "write", "publish", "subscribe", "lock", "admin"] } });
    expect((await fetch(`${server.httpUrl}/whoami`)).status).toBe(401);
    expect((await fetch(`${server.httpUrl}/whoami`, { headers: { authorization: "Bearer dcsm_nope" } })).status).toBe(401);
    const res = await fetch(`${server.httpUrl}/whoami`, { headers: { authorization: `Bearer ${keyA.key}` } });
    expect(await res.json()).toEqual({ authEnabled: true, principal: "agent-a", scopes: { "team-a": ["read", "write", "publish", "subscribe", "lock"] }, defaultNamespace: "team-a", rights: ["read", "write", "publish", "subscribe", "lock", "admin"] });
    const reader = createAgentSDK({ baseUrl: server.httpUrl, agentId: "x", token: keyReader.key });
    const someId = (await reader.glm.retrieveKEMs({ query: {}, pageSize: 1 })).kems[0]!.id;
    const denied = await reader.deleteKem(someId).catch((e: unknown) => ConnectError.from(e).code);
    expect(denied).toBe(Code.PermissionDenied); // the page hides what the server would refuse anyway
  });
});
