/**
 * Write-behind worker against a real GLM (SQLite) over a real socket: GLM down then up, batch
 * bounds, refresh with GLM's version, newer cached versions kept, rejected items dropped, and a
 * dead worker's in-flight batch resent without a second write (idempotency keys).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { GlobalLongTermMemoryService } from "../../../sdk/gen/dcsm/v1/glm_service_pb.ts";
import { EventType } from "../../../sdk/gen/dcsm/v1/swm_service_pb.ts";
import { recordToKem } from "../../../services/common/kem-mapping.ts";
import { timestampToMicros } from "../../../services/common/time.ts";
import { createRedisSwmBackend } from "../../../services/swm/backends.ts";
import { connectRedis } from "../../../services/swm/redis/connection.ts";
import { createRedisPersistQueue } from "../../../services/write-behind/redis-queue.ts";
import { createSqlitePersistQueue } from "../../../services/write-behind/sqlite-queue.ts";
import { createWriteBehindWorker, type WriteBehindWorker } from "../../../services/write-behind/worker.ts";
import { createTestGlm, testLimits } from "../../helpers/glm.ts";
import { freePort, startRedis, type TestRedis } from "../../helpers/redis-server.ts";
import { removeTempDirs, tempDir } from "../../helpers/temp-dir.ts";
import { makeSwm } from "../swm/helpers.ts";
import { kem, waitFor } from "../swm/working-set-contract.ts";

const enc = new TextEncoder();
let redis: TestRedis;
const stops: (() => Promise<void> | void)[] = [];
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  for (const s of stops.reverse()) await s();
  await redis.stop();
  removeTempDirs();
});

/** A GLM client transport that records the size of every BatchStoreKEMs call (a real interceptor). */
function recordingTransport(url: string, sizes: number[]) {
  const count: Interceptor = (next) => async (req) => {
    if (req.method.name === "BatchStoreKEMs") sizes.push((req.message as unknown as { kems: unknown[] }).kems.length);
    return next(req);
  };
  return createConnectTransport({ baseUrl: url, httpVersion: "1.1", useBinaryFormat: true, interceptors: [count] });
}

describe("write-behind to GLM", () => {
  test("GLM down: entries wait and retry with backoff; GLM up: size-bounded batches land and the cache adopts GLM's version", async () => {
    const port = await freePort();
    const sizes: number[] = [];
    const glmTransport = recordingTransport(`http://127.0.0.1:${port}`, sizes);
    const s = await makeSwm("memory", { queuePath: join(tempDir(), "q.sqlite") });
    const worker = createWriteBehindWorker({
      queue: s.backend.persistQueue!,
      glm: glmTransport,
      workingSet: s.backend.workingSet,
      batchSize: 10,
      maxDelayMs: 30,
      retryInitialMs: 20,
      retryMaxMs: 200,
    });
    stops.push(
      () => worker.stop(),
      () => s.close(),
    );
    for (let i = 0; i < 25; i++) {
      const r = await s.client.publishKEMToSWM({
        kemToPublish: { id: `wb${i}`, content: enc.encode(`v${i}`) },
        persistToGlmIfNewOrUpdated: true,
      });
      expect(r.queuedForGlmPersistence).toBe(true);
    }
    await waitFor(async () => (await worker.stats()).failedAttempts >= 3, 5000, "retries");
    const waiting = await worker.stats();
    expect([waiting.depth, waiting.persisted]).toEqual([25, 0]);
    expect(waiting.oldestAgeMs).toBeGreaterThan(0);

    const ac = new AbortController();
    const refreshed: string[] = [];
    const events = (async () => {
      try {
        for await (const e of s.client.subscribeToSWMEvents(
          { topics: [{ eventTypes: [EventType.KEM_UPDATED] }] },
          { signal: ac.signal },
        )) {
          if (e.details.includes("GLM")) refreshed.push(e.kemPayload!.id);
        }
      } catch {}
    })();
    const glm = createTestGlm(tempDir());
    const served = glm.serve(port);
    stops.push(
      () => served.stop(),
      () => glm.close(),
    );
    await worker.drained(10_000);
    expect(await glm.store.count()).toBe(25);
    expect(sizes.filter((n) => n > 10)).toEqual([]);
    expect(sizes.length).toBeGreaterThanOrEqual(3);
    const [cached] = (await s.client.querySWM({ query: { ids: ["wb3"] } })).kems;
    const [stored] = await glm.store.getMany(["wb3"]);
    expect(timestampToMicros(cached!.updatedAt!)).toBe(stored!.updatedAtUs);
    await waitFor(() => refreshed.length === 25, 3000, "refresh events");
    ac.abort();
    await events;
    expect((await worker.stats()).persisted).toBe(25);
  });

  test("a partial batch is sent after maxDelayMs; a newer cached version is not overwritten by GLM's older one; rejected items are dropped", async () => {
    const glm = createTestGlm(tempDir(), testLimits(16)); // GLM wants 16-dim vectors, SWM accepts 8
    const served = glm.serve(0);
    stops.push(
      () => served.stop(),
      () => glm.close(),
    );
    const s = await makeSwm("memory", { queuePath: join(tempDir(), "q.sqlite") });
    const worker = createWriteBehindWorker({
      queue: s.backend.persistQueue!,
      glm: createConnectTransport({ baseUrl: served.url, httpVersion: "1.1" }),
      workingSet: s.backend.workingSet,
      batchSize: 100,
      maxDelayMs: 150,
    });
    stops.push(
      () => worker.stop(),
      () => s.close(),
    );
    const t0 = Date.now();
    await s.client.publishKEMToSWM({
      kemToPublish: { id: "one", content: enc.encode("v1") },
      persistToGlmIfNewOrUpdated: true,
    });
    await s.client.publishKEMToSWM({ kemToPublish: { id: "one", content: enc.encode("v2 newer, not persisted") } });
    await s.client.publishKEMToSWM({
      kemToPublish: { id: "bad", content: enc.encode("x"), embeddings: [1, 0, 0, 0, 0, 0, 0, 0] },
      persistToGlmIfNewOrUpdated: true,
    });
    await worker.drained(5000);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
    expect(new TextDecoder().decode((await glm.store.getMany(["one"]))[0]!.content)).toBe("v1");
    const [cached] = (await s.client.querySWM({ query: { ids: ["one"] } })).kems;
    expect(new TextDecoder().decode(cached!.content)).toBe("v2 newer, not persisted");
    expect(await glm.store.getMany(["bad"])).toEqual([]);
    const st = await worker.stats();
    expect([st.persisted, st.rejected, st.depth]).toEqual([1, 1, 0]);
  });

  test("Redis: a batch a dead worker sent but never acknowledged is taken over and resent without a second write", async () => {
    const glm = createTestGlm(tempDir());
    const served = glm.serve(0);
    stops.push(
      () => served.stop(),
      () => glm.close(),
    );
    const prefix = `dead${Date.now()}:`;
    const backend = await createRedisSwmBackend({ url: redis.url, prefix });
    const conn = await connectRedis(redis.url);
    stops.push(
      () => backend.close(),
      () => conn.close(),
    );
    const dead = await createRedisPersistQueue({ redis: conn, prefix, consumer: "dead-worker", claimIdleMs: 300 });
    const recs = (
      await backend.workingSet.put(
        Array.from({ length: 20 }, (_, i) => kem(`inflight${i}`)),
        { agentId: "" },
      )
    ).map((r) => r.record);
    await dead.enqueue(recs);
    // The dead worker's steps up to the crash: claim, store in GLM with the entries' keys, no ack.
    const claimed = await dead.claim(100);
    expect(claimed.length).toBe(20);
    const glmClient = createClient(GlobalLongTermMemoryService, glm.transport);
    await glmClient.batchStoreKEMs({
      kems: claimed.map((q) => recordToKem(q.record)),
      idempotencyKeys: claimed.map((q) => q.idempotencyKey),
    });
    const firstWrite = new Map((await glm.store.getMany(recs.map((r) => r.id))).map((r) => [r.id, r.updatedAtUs]));
    await Bun.sleep(50);
    const live = await createRedisPersistQueue({ redis: conn, prefix, consumer: "live-worker", claimIdleMs: 300 });
    const sizes: number[] = [];
    const worker: WriteBehindWorker = createWriteBehindWorker({
      queue: live,
      glm: recordingTransport(served.url, sizes),
      workingSet: backend.workingSet,
      maxDelayMs: 10,
      idlePollMs: 50,
    });
    stops.push(() => worker.stop());
    await worker.drained(5000);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(20); // resent ...
    const after = await glm.store.getMany(recs.map((r) => r.id));
    expect(after.length).toBe(20);
    expect(after.every((r) => r.updatedAtUs === firstWrite.get(r.id))).toBe(true); // ... but not rewritten
    expect(await glm.store.count()).toBe(20);
  });

  test("SQLite queue shared by two processes' workers (one data dir): claims are disjoint; a dead claimant's rows come back after the lease", async () => {
    const path = join(tempDir(), "shared-queue.sqlite");
    const a = createSqlitePersistQueue({ path, claimIdleMs: 300 });
    const b = createSqlitePersistQueue({ path, claimIdleMs: 300 });
    stops.push(
      () => a.close(),
      () => b.close(),
    );
    const recs = Array.from({ length: 30 }, (_, i) => ({ ...kem(`sq${i}`), createdAtUs: 1, updatedAtUs: 1 }));
    await a.enqueue(recs);
    const [ca, cb] = [await a.claim(20), await b.claim(20)];
    expect([ca.length, cb.length]).toEqual([20, 10]);
    expect(new Set([...ca, ...cb].map((q) => q.record.id)).size).toBe(30);
    expect((await a.claim(20)).map((q) => q.handle)).toEqual(ca.map((q) => q.handle)); // re-claim by the owner is stable
    await b.ack(cb.map((q) => q.handle));
    expect((await b.claim(20)).length).toBe(0); // a's rows are leased
    await Bun.sleep(350); // a "dies": its lease ends
    const taken = await b.claim(50);
    expect(taken.map((q) => q.handle)).toEqual(ca.map((q) => q.handle));
    expect(taken.every((q, i) => q.idempotencyKey === ca[i]!.idempotencyKey)).toBe(true);
    expect((await a.stats()).depth).toBe(20);
  });
});

describe("SQLite persist queue shared by processes", () => {
  test('opening the queue while another process holds the file locked waits for it instead of failing with "database is locked"', async () => {
    const path = join(tempDir(), "queue.sqlite");
    // A second real process takes an exclusive lock on the (new, not yet WAL) file for 300 ms.
    const holder = Bun.spawn(
      [
        process.execPath,
        "-e",
        `const { Database } = require("bun:sqlite"); const db = new Database(${JSON.stringify(path)}, { create: true }); db.exec("BEGIN EXCLUSIVE; CREATE TABLE t (x); "); console.log("locked"); setTimeout(() => { db.exec("COMMIT"); db.close(); }, 300);`,
      ],
      { stdout: "pipe", stderr: "inherit" },
    );
    const reader = holder.stdout.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toContain("locked");
    const queue = createSqlitePersistQueue({ path });
    await queue.enqueue([{ ...kem("shared-1"), createdAtUs: 1, updatedAtUs: 1 }]);
    expect((await queue.stats()).depth).toBe(1);
    await queue.close();
    expect(await holder.exited).toBe(0);
  });
});
