/**
 * The web console's Ingest view, driven headless in a real Chromium against a real server with the
 * real model (shared setup: `fixtures/console.ts`): chosen, dropped and pasted files chunked and
 * stored, each chunk shown with its line range, and code keeping its language.
 */
import { expect, test } from "bun:test";
import { createAgentSDK } from "../../sdk/index.ts";
import { consolePerFile, keys, shoot, signIn } from "./fixtures/console.ts";

const ui = consolePerFile({ auth: true });

test("ingest: chosen, dropped and pasted files are chunked and stored, each chunk shown with its line range", async () => {
  const { page, errors } = await ui.newPage();
  await signIn(page, keys.a.key, "agent-a");
  await page.click("#tab-ingest");
  const md =
    "# Guide\n\nRedis holds the working set.\n\n## Locks\n\nLocks carry a fencing token that grows with every grant.\n\n## Events\n\nEvents are replayed after a reconnect.\n";
  await page.fill("#ingest-chunk", "60");
  await page.setInputFiles("#ingest-files", { name: "guide.md", mimeType: "text/markdown", buffer: Buffer.from(md) });
  const item = page.locator('.ingest-item[data-name="guide.md"]');
  await item.and(page.locator('[data-state="done"]')).waitFor({ timeout: 60_000 });
  const chunks = item.locator(".chunk");
  expect(await chunks.count()).toBeGreaterThan(1);
  expect(await chunks.first().textContent()).toMatch(/lines 1–\d+/);
  const a = createAgentSDK({ baseUrl: ui.server.httpUrl, agentId: "checker", token: keys.a.key });
  const got = await a.glm.retrieveKEMs({
    query: {
      metadataFilters: {
        source_path: { kind: { case: "stringValue", value: "guide.md" } },
        namespace: { kind: { case: "stringValue", value: "team-a" } },
      },
    },
    pageSize: 50,
  });
  expect(got.kems.length).toBe(await chunks.count());
  // A file dropped on the drop zone (a real DragEvent carrying a File) goes the same way.
  await page.evaluate(() => {
    const dt = new DataTransfer();
    dt.items.add(new File(["# Dropped\n\nDropped files are ingested too.\n"], "dropped.md", { type: "text/markdown" }));
    document
      .getElementById("ingest-drop")!
      .dispatchEvent(new DragEvent("drop", { dataTransfer: dt, bubbles: true, cancelable: true }));
  });
  await page.locator('.ingest-item[data-name="dropped.md"][data-state="done"]').waitFor({ timeout: 60_000 });
  // Pasted text goes the same way.
  await page.fill("#ingest-text", "Pasted: counters count jobs.");
  await page.fill("#ingest-name", "pasted.txt");
  await page.click("#ingest-paste");
  await page.locator('.ingest-item[data-name="pasted.txt"][data-state="done"]').waitFor({ timeout: 60_000 });
  // Code keeps its language: a pasted TypeScript file's chunk opens as code.
  await page.fill(
    "#ingest-text",
    "export function leaseLeft(expiresAtMs: number): number {\n  return Math.max(0, expiresAtMs - Date.now());\n}\n",
  );
  await page.fill("#ingest-name", "lease.ts");
  await page.fill("#ingest-chunk", "0"); // the server's default: the function stays one chunk
  await page.click("#ingest-paste");
  const ts = page.locator('.ingest-item[data-name="lease.ts"][data-state="done"]');
  await ts.waitFor({ timeout: 60_000 });
  await ts.locator(".chunk button").first().click();
  await page.locator("#kem-kind", { hasText: "code · typescript" }).waitFor();
  expect(await page.locator("#kem-dialog pre.code code").textContent()).toContain(
    "Math.max(0, expiresAtMs - Date.now())",
  );
  await shoot(page, "ingest-code-chunk");
  await page.click("#kem-dialog-close");
  await shoot(page, "ingest");
  expect(errors).toEqual([]);
}, 120_000);
