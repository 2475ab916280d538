/**
 * Write-behind durability with real processes: an SWM server process is killed with kill -9 while
 * KEMs are queued (GLM down) or in flight (GLM up); a new process on the same data dir / Redis
 * delivers every queued KEM to GLM exactly once (GLM's idempotency keys: no row written twice),
 * with GLM over the network and with GLM in the same process (write-behind through its repository).
 */

import { Database } from "bun:sqlite";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { SharedWorkingMemoryService } from "../../../sdk/gen/dcsm/v1/swm_service_pb.ts";
import { createTestGlm } from "../../helpers/glm.ts";
import { freePort, startRedis, type TestRedis } from "../../helpers/redis-server.ts";
import { removeTempDirs, tempDir } from "../../helpers/temp-dir.ts";
import { type SwmProcess, startSwmProcess } from "./process.ts";
import { waitFor } from "./working-set-contract.ts";

const enc = new TextEncoder();
let redis: TestRedis;
const procs: SwmProcess[] = [];
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  for (const p of procs) p.proc.kill(9);
  await redis.stop();
  removeTempDirs();
});

function swmClient(url: string) {
  return createClient(
    SharedWorkingMemoryService,
    createConnectTransport({ baseUrl: url, httpVersion: "1.1", useBinaryFormat: true }),
  );
}

async function publishAll(url: string, ids: string[], concurrency = 32): Promise<void> {
  const client = swmClient(url);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < ids.length) {
        const id = ids[next++]!;
        const res = await client.publishKEMToSWM({
          kemToPublish: { id, content: enc.encode(`durable ${id}`), metadata: { batch: "d" } },
          persistToGlmIfNewOrUpdated: true,
          agentId: "dur",
        });
        if (!res.queuedForGlmPersistence) throw new Error(`${id} not queued`);
      }
    }),
  );
}

/** Rows in GLM for `ids`, the idempotency keys used, and rows written more than once. */
function glmState(path: string, ids: string[]) {
  const db = new Database(path, { readonly: true });
  try {
    const rows = db
      .query<{ id: string; created_at: string; updated_at: string }, []>("SELECT id, created_at, updated_at FROM kems")
      .all();
    const keys = db.query<{ n: number }, []>("SELECT COUNT(*) AS n FROM idempotency_keys").get()!.n;
    const want = new Set(ids);
    return {
      stored: rows.filter((r) => want.has(r.id)).length,
      total: rows.length,
      keys,
      rewritten: rows.filter((r) => r.created_at !== r.updated_at).length,
    };
  } finally {
    db.close();
  }
}

for (const kind of ["in-process (SQLite queue)", "redis (stream queue)"]) {
  describe(`write-behind durability: ${kind}`, () => {
    const envFor = (dataDir: string, glmUrl: string, prefix: string): Record<string, string> => ({
      DCSM_DATA_DIR: dataDir,
      DCSM_GLM_URL: glmUrl,
      DCSM_SWM_WRITE_BEHIND_DELAY_MS: "20",
      DCSM_SWM_WRITE_BEHIND_BATCH: "25",
      DCSM_SWM_CLAIM_IDLE_MS: "1000",
      ...(kind.startsWith("redis")
        ? { REDIS_URL: redis.url, DCSM_SWM_REDIS_PREFIX: prefix, DCSM_SWM_WORKER_NAME: `w-${prefix}` }
        : {}),
    });

    test("kill -9 with KEMs queued while GLM is down; a restarted process delivers each exactly once", async () => {
      const dataDir = tempDir();
      const glmPort = await freePort();
      const env = envFor(dataDir, `http://127.0.0.1:${glmPort}`, `down${Date.now()}:`);
      const s1 = await startSwmProcess(env);
      procs.push(s1);
      const ids = Array.from({ length: 200 }, (_, i) => `down-${i}`);
      await publishAll(s1.url, ids);
      const before = await s1.stats();
      expect(before.depth).toBe(200);
      expect(before.persisted).toBe(0);
      await Bun.sleep(300);
      const later = await s1.stats();
      expect(later.oldestAgeMs).toBeGreaterThanOrEqual(250);
      expect(later.failedAttempts).toBeGreaterThan(0);
      await s1.kill9();

      const glm = createTestGlm(tempDir());
      const served = glm.serve(glmPort);
      const s2 = await startSwmProcess(env);
      procs.push(s2);
      await waitFor(() => glmState(glm.path, ids).stored === 200, 15_000, "all KEMs in GLM");
      await waitFor(async () => (await s2.stats()).depth === 0, 5000, "queue empty");
      await Bun.sleep(300); // anything resent late would show up as a rewrite
      expect(glmState(glm.path, ids)).toEqual({ stored: 200, total: 200, keys: 200, rewritten: 0 });
      const [cached] = (await swmClient(s2.url).querySWM({ query: { ids: ["down-7"] } })).kems;
      if (kind.startsWith("redis")) {
        // The shared cache survived the process and now holds GLM's version (refresh after write-behind).
        const [inGlm] = await glm.store.getMany(["down-7"]);
        expect(Number(cached!.updatedAt!.seconds) * 1e6 + cached!.updatedAt!.nanos / 1000).toBe(inGlm!.updatedAtUs);
      } else {
        expect(cached).toBeUndefined(); // the in-process cache dies with its process; only the queue is durable
      }
      await s2.stop();
      await served.stop();
      glm.close();
    }, 40_000);

    test("kill -9 while batches are in flight to a live GLM; after restart every KEM is in GLM once", async () => {
      const dataDir = tempDir();
      const glm = createTestGlm(tempDir());
      const served = glm.serve(0);
      const env = envFor(dataDir, served.url, `fly${Date.now()}:`);
      const s1 = await startSwmProcess(env);
      procs.push(s1);
      const ids = Array.from({ length: 1500 }, (_, i) => `fly-${i}`);
      await publishAll(s1.url, ids);
      await waitFor(() => glmState(glm.path, ids).stored > 0, 10_000, "first batches in GLM");
      await s1.kill9();
      const atKill = glmState(glm.path, ids).stored;
      expect(atKill).toBeLessThan(1500); // killed with work left
      const s2 = await startSwmProcess(env);
      procs.push(s2);
      await waitFor(() => glmState(glm.path, ids).stored === 1500, 20_000, "all KEMs in GLM");
      await waitFor(async () => (await s2.stats()).depth === 0, 5000, "queue empty");
      await Bun.sleep(300);
      expect(glmState(glm.path, ids)).toEqual({ stored: 1500, total: 1500, keys: 1500, rewritten: 0 });
      await s2.stop();
      await served.stop();
      glm.close();
    }, 60_000);
  });
}

describe("write-behind durability: GLM in the same process (SQLite queue into the repository)", () => {
  test("kill -9 while publishing and storing; after restart every acknowledged KEM is in GLM once", async () => {
    const dataDir = tempDir();
    const env = {
      DCSM_DATA_DIR: dataDir,
      DCSM_SWM_WRITE_BEHIND_DELAY_MS: "20",
      DCSM_SWM_WRITE_BEHIND_BATCH: "25",
      DCSM_SWM_CLAIM_IDLE_MS: "1000",
    };
    const glmPath = `${dataDir}/glm.sqlite`;
    const s1 = await startSwmProcess(env);
    procs.push(s1);
    // Publishing still runs when the process dies (the drain keeps pace with a finished publish).
    const ids = Array.from({ length: 4000 }, (_, i) => `same-${i}`);
    const acked: string[] = [];
    const client = swmClient(s1.url);
    let next = 0;
    const publishing = Promise.all(
      Array.from({ length: 32 }, async () => {
        while (next < ids.length) {
          const id = ids[next++]!;
          const res = await client.publishKEMToSWM({
            kemToPublish: { id, content: enc.encode(`durable ${id}`), metadata: { batch: "s" } },
            persistToGlmIfNewOrUpdated: true,
            agentId: "dur",
          });
          if (res.queuedForGlmPersistence) acked.push(id);
        }
      }),
    ).catch(() => {}); // calls in flight fail when the process is killed
    await waitFor(() => glmState(glmPath, ids).stored > 0, 10_000, "first batches in GLM");
    await s1.kill9();
    await publishing;
    expect(acked.length).toBeGreaterThan(0);
    expect(acked.length).toBeLessThan(ids.length); // killed mid-publish
    const s2 = await startSwmProcess(env);
    procs.push(s2);
    await waitFor(
      async () => glmState(glmPath, acked).stored === acked.length && (await s2.stats()).depth === 0,
      20_000,
      "every acknowledged KEM in GLM, queue empty",
    );
    await Bun.sleep(300); // anything resent late would show up as a rewrite
    const st = glmState(glmPath, acked);
    // Calls cut by the kill may have been queued without their answer arriving: at most 32 more rows.
    expect(st.stored).toBe(acked.length);
    expect(st.total - acked.length).toBeLessThanOrEqual(32);
    expect(st.keys).toBe(st.total);
    expect(st.rewritten).toBe(0);
    await s2.stop();
  }, 60_000);
});
