/**
 * Code indexing end to end: `dcsm ingest` of this repository's own GLM and KPS sources
 * into a real server, questions answered with the defining file, filters, re-ingest skipping
 * unchanged chunks, deleted files removed, and `--watch` re-indexing edits.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createDcsmClients, type DcsmClients } from "../../runtime/cli/clients.ts";
import { walkIngestFiles } from "../../runtime/cli/file-walker.ts";
import { type IngestReport, ingestPaths } from "../../runtime/cli/ingest.ts";
import { searchText } from "../../runtime/cli/search.ts";
import { watchFolders } from "../../runtime/cli/watch.ts";
import { REPO_ROOT } from "../../runtime/config.ts";
import type { DcsmServer } from "../../runtime/server.ts";
import { createNodeTransport } from "../../sdk/server.ts";
import { startTestServer } from "../helpers/server.ts";
import { removeTempDirs, tempDir } from "../helpers/temp-dir.ts";
import { waitFor } from "../helpers/wait-for.ts";

let server: DcsmServer;
let clients: DcsmClients;
let first: IngestReport;
/** Some of this repository's GLM, KPS and SWM sources (~110 chunks: the model is the cost on 2 cores). */
const PICK =
  /^services\/(glm\/store\/|glm\/kem-repository|kps\/embedder\/|kps\/openai\/openai-api|swm\/coordination\/)/;
const only = new Set(
  walkIngestFiles([REPO_ROOT])
    .map((f) => f.sourcePath)
    .filter((p) => PICK.test(p)),
);

beforeAll(async () => {
  server = await startTestServer();
  clients = createDcsmClients(createNodeTransport({ baseUrl: server.httpUrl, protocol: "connect" }));
  first = await ingestPaths(clients, [REPO_ROOT], { progress: false, only, prune: false });
}, 120_000);
afterAll(async () => {
  await server?.close();
  removeTempDirs();
});

describe("code search over this repository", () => {
  test("questions find the defining file, with line ranges, symbols and language", async () => {
    expect(first.failed).toEqual([]);
    expect(first.files).toBe(only.size);
    // By meaning, the store that opens the file and has its tables created ranks first; the
    // default hybrid ranking has it in its first three (a short doc comment naming SQLite can tie).
    const [hit] = await searchText(clients, "where is the SQLite table created", 1, { mode: "vector" });
    expect(hit!.source).toBe("services/glm/store/sqlite-store.ts");
    const hybrid = await searchText(clients, "where is the SQLite table created", 3);
    expect(hybrid.map((h) => h.source)).toContain("services/glm/store/sqlite-store.ts");
    expect(hit!.language).toBe("typescript");
    expect(hit!.startLine).toBeGreaterThan(0);
    expect(hit!.endLine).toBeGreaterThanOrEqual(hit!.startLine);
    const [cache] = await searchText(clients, "bounded LRU cache of embeddings with hit ratio", 1);
    expect(cache!.source).toBe("services/kps/embedder/cached-embedder.ts");
    const [locks] = await searchText(clients, "where are locks released", 1);
    expect(locks!.source).toStartWith("services/swm/coordination/");
  }, 60_000);

  test("--path-prefix and --language narrow the hits", async () => {
    const kps = await searchText(clients, "where is the SQLite table created", 5, { pathPrefix: "services/kps/" });
    expect(kps.length).toBe(5); // found past the first page of (GLM) hits
    expect(kps.every((h) => h.source.startsWith("services/kps/"))).toBe(true);
    expect(await searchText(clients, "SQLite table", 3, { language: "python" })).toEqual([]);
    const ts = await searchText(clients, "SQLite table", 3, { language: "typescript" });
    expect(ts.length).toBe(3);
  }, 60_000);

  test("re-ingesting unchanged code embeds nothing", async () => {
    const again = await ingestPaths(clients, [REPO_ROOT], { progress: false, only, prune: false });
    expect(again.embedded).toBe(0);
    expect(again.unchanged).toBe(first.chunks);
  }, 60_000);
});

describe("deleted files and --watch", () => {
  test("a deleted file's chunks are removed; --watch re-indexes an edited file", async () => {
    const root = tempDir("dcsm-watch-");
    mkdirSync(join(root, "src"));
    writeFileSync(
      join(root, "src/locks.ts"),
      "/** Releases the lock when its lease expires. */\nexport function releaseLock(id: string) {\n  return id;\n}\n",
    );
    writeFileSync(join(root, "src/old.py"), "def parse_invoice(text):\n    return text.split(',')\n");
    await ingestPaths(clients, [root], { progress: false });
    expect((await searchText(clients, "parse an invoice", 1, { language: "python" }))[0]?.source).toBe("src/old.py");

    rmSync(join(root, "src/old.py"));
    const pruned = await ingestPaths(clients, [root], { progress: false });
    expect(pruned.removedFiles).toBe(1);
    expect(await searchText(clients, "parse an invoice", 1, { language: "python" })).toEqual([]);

    const stop = new AbortController();
    const rounds: IngestReport[] = [];
    const watching = watchFolders(clients, [root], stop.signal, { debounceMs: 100, onRound: (r) => rounds.push(r) });
    await Bun.sleep(200);
    writeFileSync(
      join(root, "src/locks.ts"),
      "/** Renews a lock's lease before it expires. */\nexport function renewLease(id: string) {\n  return id;\n}\n",
    );
    await waitFor(() => rounds.length > 0, { timeoutMs: 10_000, intervalMs: 100, what: "a watch round" });
    stop.abort();
    await watching;
    expect(rounds[0]?.embedded).toBe(1);
    const [hit] = await searchText(clients, "renew the lease of a lock", 1, { pathPrefix: "src/" });
    expect(hit!.text).toContain("renewLease");
    expect(hit!.symbol).toBe("renewLease");
  }, 60_000);
});
