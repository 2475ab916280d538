/**
 * KPS with a remote GLM that goes away: `dcsm serve` runs as a real process
 * with `DCSM_GLM_URL` pointing at a real GLM behind a TCP proxy that refuses connections (GLM
 * down). ProcessRawData still succeeds, says the chunks were queued, and the embedded chunks sit
 * in `<dataDir>/kps-outbox.sqlite`; they survive a kill -9 of the server, and land in GLM (with
 * their embeddings, exactly once) when the proxy lets connections through again. Also: a KPS tier
 * reaching a GLM that requires authentication with `DCSM_GLM_API_KEY`.
 */

import { Database } from "bun:sqlite";
import { afterAll, expect, test } from "bun:test";
import { join } from "node:path";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { bearerAuth } from "../../sdk/auth.ts";
import { GlobalLongTermMemoryService } from "../../sdk/gen/dcsm/v1/glm_service_pb.ts";
import { KnowledgeProcessorService } from "../../sdk/gen/dcsm/v1/kps_service_pb.ts";
import { createTestGlm, testLimits } from "../helpers/glm.ts";
import { type ServeProcess, startServeProcess } from "../helpers/serve-process.ts";
import { startTcpProxy } from "../helpers/tcp-proxy.ts";
import { removeTempDirs, tempDir } from "../helpers/temp-dir.ts";
import { waitFor } from "../helpers/wait-for.ts";

const running: ServeProcess[] = [];
afterAll(() => {
  for (const p of running) p.proc.kill("SIGKILL");
  removeTempDirs();
});

const enc = new TextEncoder();
const doc = (name: string, n: number) =>
  Array.from(
    { length: n },
    (_, i) =>
      `## ${name} section ${i}\n\nParagraph ${i} of ${name} explains a different idea about memory number ${i * 7}.`,
  ).join("\n\n");

function kpsClient(url: string) {
  return createClient(
    KnowledgeProcessorService,
    createConnectTransport({ baseUrl: url, httpVersion: "1.1", useBinaryFormat: true }),
  );
}

function outboxDepth(dataDir: string): number {
  const db = new Database(join(dataDir, "kps-outbox.sqlite"), { readonly: true });
  try {
    return db.query<{ n: number }, []>("SELECT COUNT(*) AS n FROM swm_persist_queue").get()!.n;
  } finally {
    db.close();
  }
}

test("GLM down: ProcessRawData queues chunks durably, they survive kill -9 and land in GLM when it returns", async () => {
  const glm = createTestGlm(tempDir("dcsm-kps-glm-"), testLimits(384));
  const served = glm.serve(0);
  const proxy = await startTcpProxy(served.port);
  proxy.drop(true); // GLM unreachable: every connection refused
  const dataDir = tempDir("dcsm-kps-outage-");
  // Rows the killed process had claimed come back after the claim lease (DCSM_SWM_CLAIM_IDLE_MS,
  // default 30 s, shared with SWM's write-behind); 1 s here.
  const env = { DCSM_GLM_URL: proxy.url, DCSM_SWM_WRITE_BEHIND_DELAY_MS: "20", DCSM_SWM_CLAIM_IDLE_MS: "1000" };
  try {
    let srv = await startServeProcess(dataDir, env);
    running.push(srv);
    let kps = kpsClient(srv.url);

    // The first call finds GLM unreachable (the proxy resets connections: `Aborted`), then queues.
    let t0 = performance.now();
    const a = await kps.processRawData({
      rawContent: enc.encode(doc("alpha", 6)),
      sourcePath: "notes/alpha.md",
      contentType: "text/markdown",
      maxChunkChars: 150,
    });
    const firstMs = performance.now() - t0;
    expect(a.success).toBe(true);
    expect(a.statusMessage).toStartWith("queued");
    expect(a.kemIds.length).toBeGreaterThanOrEqual(3);
    // Later calls go straight to the queue (it is not empty), behind the first document.
    t0 = performance.now();
    const b = await kps.processRawData({
      rawContent: enc.encode(doc("beta", 4)),
      dataId: "beta-1",
      maxChunkChars: 150,
    });
    const c = await kps.processRawData({ rawContent: enc.encode("a note without a source") });
    const nextMs = (performance.now() - t0) / 2;
    for (const r of [b, c]) {
      expect(r.success).toBe(true);
      expect(r.statusMessage).toStartWith("queued");
    }
    expect(c.kemIds[0]).toMatch(/^[0-9a-f-]{36}$/); // id assigned while queued
    const ids = [...a.kemIds, ...b.kemIds, ...c.kemIds];
    expect(outboxDepth(dataDir)).toBe(ids.length);
    expect(await glm.store.count()).toBe(0);

    // kill -9 with everything queued; a new process on the same data folder still holds it.
    await srv.kill9();
    srv = await startServeProcess(dataDir, env);
    running.push(srv);
    kps = kpsClient(srv.url);
    expect(outboxDepth(dataDir)).toBe(ids.length);
    await Bun.sleep(500);
    expect(await glm.store.count()).toBe(0); // still down

    // GLM returns: the worker drains the outbox (its retry backoff is at most 5 s).
    proxy.up();
    t0 = performance.now();
    await waitFor(async () => (await glm.store.count()) === ids.length, {
      timeoutMs: 15_000,
      intervalMs: 25,
      what: "queued chunks in GLM",
    });
    const drainMs = performance.now() - t0;
    await waitFor(() => outboxDepth(dataDir) === 0, { intervalMs: 25, what: "an empty outbox" });
    const rows = await glm.store.getMany(ids);
    expect(rows.map((r) => r.id).sort()).toEqual([...ids].sort());
    expect(rows.every((r) => r.embedding?.length === 384)).toBe(true);
    expect(rows.filter((r) => r.metadata.source_path === "notes/alpha.md").length).toBe(a.kemIds.length);
    expect(rows.filter((r) => r.metadata.data_id === "beta-1").length).toBe(b.kemIds.length);

    // Back to normal: re-processing alpha finds every chunk stored and unchanged.
    const again = await kps.processRawData({
      rawContent: enc.encode(doc("alpha", 6)),
      sourcePath: "notes/alpha.md",
      contentType: "text/markdown",
      maxChunkChars: 150,
    });
    expect(again.statusMessage).toStartWith("stored");
    expect(again.chunksUnchanged).toBe(a.kemIds.length);
    expect(await glm.store.count()).toBe(ids.length);
    console.log(
      `KPS outage: first queued call ${firstMs.toFixed(0)} ms , later ones ${nextMs.toFixed(0)} ms; ${ids.length} queued chunks drained ${drainMs.toFixed(0)} ms after GLM returned`,
    );
    expect(await srv.stop()).toBe(0);
  } finally {
    await proxy.close();
    await served.stop();
    glm.close();
  }
}, 120_000);

test("a remote GLM that requires a key: KPS sends DCSM_GLM_API_KEY and its chunks are stored there", async () => {
  const glmKey = "glm-key-for-the-kps-tier";
  const glmSrv = await startServeProcess(tempDir("dcsm-remote-glm-"), { DCSM_API_KEYS: glmKey });
  running.push(glmSrv);
  const kpsSrv = await startServeProcess(tempDir("dcsm-kps-tier-"), {
    DCSM_GLM_URL: glmSrv.url,
    DCSM_GLM_API_KEY: glmKey,
  });
  running.push(kpsSrv);
  const res = await kpsClient(kpsSrv.url).processRawData({
    rawContent: enc.encode(doc("keyed", 2)),
    dataId: "keyed-doc",
  });
  expect(res.success).toBe(true);
  expect(res.statusMessage).not.toContain("queued");
  const glmAt = (token?: string) =>
    createClient(
      GlobalLongTermMemoryService,
      createConnectTransport({
        baseUrl: glmSrv.url,
        httpVersion: "1.1",
        interceptors: token ? [bearerAuth(token)] : [],
      }),
    );
  const stored = await glmAt(glmKey).retrieveKEMs({ query: { ids: res.kemIds }, pageSize: 100 });
  expect(stored.kems.map((k) => k.id).sort()).toEqual([...res.kemIds].sort());
  // The key is what let KPS in: the same GLM refuses a caller without it.
  expect(
    await glmAt()
      .retrieveKEMs({ query: { ids: res.kemIds } })
      .then(
        () => "ok",
        (e) => ConnectError.from(e).code,
      ),
  ).toBe(Code.Unauthenticated);
  await kpsSrv.stop();
  await glmSrv.stop();
}, 120_000);
