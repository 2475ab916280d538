/**
 * Write-behind with GLM in the same process: the worker stores queued records through GLM's
 * repository (real SQLite store, exact index) without a serialising transport. Records land bit
 * for bit, the cache adopts GLM's version with its embedding, invalid records are rejected as
 * `BatchStoreKEMs` would reject them.
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import type { KemRecord } from "../../../services/common/kem-record.ts";
import { KemRepository } from "../../../services/glm/kem-repository.ts";
import { createSqliteKemStore } from "../../../services/glm/store/sqlite-store.ts";
import { createExactVectorIndex } from "../../../services/glm/vector/exact-index.ts";
import { createMemorySwmBackend, createRedisSwmBackend } from "../../../services/swm/backends.ts";
import { checkQueuedWrite, createRepositoryGlmWriter } from "../../../services/write-behind/glm-writer.ts";
import { createWriteBehindWorker } from "../../../services/write-behind/worker.ts";
import { testLimits } from "../../helpers/glm.ts";
import { redisPerFile } from "../../helpers/redis-per-file.ts";
import { tempDir } from "../../helpers/temp-dir.ts";
import { collect, waitFor } from "../swm/working-set-contract.ts";

const redisHolder = redisPerFile();

const limits = testLimits(8);

function unit(i: number): Float32Array {
  const v = Float32Array.from({ length: 8 }, (_, j) => Math.sin(i * 8 + j + 1));
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
}

let prefixes = 0;

async function setup(kind: "memory" | "redis" = "memory") {
  const dir = tempDir();
  const store = createSqliteKemStore({ path: join(dir, "glm.sqlite") });
  const repository = new KemRepository({ store, index: createExactVectorIndex({ dimension: 8 }) });
  await repository.open();
  const backend =
    kind === "memory"
      ? createMemorySwmBackend({ queuePath: join(dir, "queue.sqlite"), indexedKeys: ["topic"] })
      : await createRedisSwmBackend({
          url: redisHolder.server.url,
          prefix: `wbr${++prefixes}:`,
          indexedKeys: ["topic"],
          queueConsumer: "w1",
        });
  const worker = createWriteBehindWorker({
    queue: backend.persistQueue!,
    glm: createRepositoryGlmWriter(repository, limits),
    workingSet: backend.workingSet,
    batchSize: 20,
    maxDelayMs: 10,
    idlePollMs: 20,
    retryInitialMs: 20,
    retryMaxMs: 100,
  });
  /** Caches and queues records the way PublishKEMToSWM does. */
  const publish = async (recs: Omit<KemRecord, "createdAtUs" | "updatedAtUs">[]) => {
    const put = await backend.workingSet.put(recs, { agentId: "t" });
    await backend.persistQueue!.enqueue(put.map((p) => p.record));
    worker.notify();
    return put.map((p) => p.record);
  };
  return {
    dir,
    store,
    backend,
    worker,
    publish,
    async close() {
      await worker.stop();
      await backend.close();
      await store.close(); // (awaited: the store port may be async)
    },
  };
}

const bits = (v: Float32Array) => Array.from(new Uint32Array(v.buffer, v.byteOffset, v.length));

describe("write-behind into the in-process repository", () => {
  test("records land exactly; the cache adopts GLM's timestamps and keeps the embedding", async () => {
    const s = await setup();
    const recs = Array.from({ length: 45 }, (_, i) => ({
      id: `r-${i}`,
      contentType: "text/plain",
      content: Uint8Array.from([0, 255, i, 10]),
      metadata: { topic: `t${i % 3}`, nested: { i, list: [i, "x"] } },
      embedding: unit(i),
    }));
    await s.publish(recs);
    await waitFor(async () => (await s.worker.stats()).persisted === 45, 5000, "all persisted");
    const stored = await s.store.getMany(recs.map((r) => r.id));
    expect(stored.length).toBe(45);
    for (const [i, r] of stored.entries()) {
      expect(Array.from(r.content)).toEqual([0, 255, i, 10]);
      expect(r.metadata).toEqual(recs[i]!.metadata);
      expect(bits(r.embedding!)).toEqual(bits(recs[i]!.embedding));
    }
    const [cached] = await s.backend.workingSet.get(["r-7"]);
    expect(cached!.updatedAtUs).toBe(stored[7]!.updatedAtUs);
    expect(cached!.createdAtUs).toBe(stored[7]!.createdAtUs);
    expect(bits(cached!.embedding!)).toEqual(bits(recs[7]!.embedding));
    expect((await s.worker.stats()).depth).toBe(0);
    await s.close();
  });

  test("an invalid record is rejected and dropped like BatchStoreKEMs rejects it; the rest of its batch lands", async () => {
    const s = await setup();
    await s.publish([
      { id: "ok-1", contentType: "text/plain", content: Uint8Array.of(1), metadata: {}, embedding: unit(1) },
      {
        id: "wrong-dim",
        contentType: "text/plain",
        content: Uint8Array.of(1),
        metadata: {},
        embedding: new Float32Array(5).fill(0.5),
      },
      { id: "ok-2", contentType: "text/plain", content: Uint8Array.of(2), metadata: {}, embedding: null },
    ]);
    await waitFor(async () => (await s.worker.stats()).depth === 0, 5000, "queue drained");
    const st = await s.worker.stats();
    expect(st.persisted).toBe(2);
    expect(st.rejected).toBe(1);
    expect((await s.store.getMany(["ok-1", "wrong-dim", "ok-2"])).map((r) => r.id)).toEqual(["ok-1", "ok-2"]);
    await s.close();
  });

  test("checkQueuedWrite names the field and the limit", () => {
    const base: KemRecord = {
      id: "x",
      contentType: "text/plain",
      content: Uint8Array.of(1),
      metadata: {},
      embedding: unit(0),
      createdAtUs: 1,
      updatedAtUs: 1,
    };
    expect(() => checkQueuedWrite(base, limits)).not.toThrow();
    expect(() => checkQueuedWrite({ ...base, id: "has space" }, limits)).toThrow(/kem.id/);
    expect(() => checkQueuedWrite({ ...base, content: new Uint8Array() }, limits)).toThrow(/content is empty/);
    expect(() => checkQueuedWrite({ ...base, content: new Uint8Array(limits.maxContentBytes + 1) }, limits)).toThrow(
      /over the limit/,
    );
    expect(() => checkQueuedWrite({ ...base, embedding: new Float32Array(8) }, limits)).toThrow(/zero vector/);
    expect(() => checkQueuedWrite({ ...base, embedding: new Float32Array(8).fill(Number.NaN) }, limits)).toThrow(
      /finite/,
    );
    expect(() => checkQueuedWrite({ ...base, embedding: new Float32Array(9).fill(1) }, limits)).toThrow(/dimension 9/);
  });

  test("Redis: the refresh after write-behind writes GLM's timestamps only; payload, indexes and the KEM_UPDATED event stay whole", async () => {
    const s = await setup("redis");
    const events = await collect(s.backend.events);
    const recs = Array.from({ length: 12 }, (_, i) => ({
      id: `x-${i}`,
      contentType: "text/markdown",
      content: Uint8Array.from([i, 0, 255]),
      metadata: { topic: i % 2 ? "odd" : "even", deep: { i } },
      embedding: unit(i),
    }));
    const published = await s.publish(recs);
    await waitFor(async () => (await s.worker.stats()).persisted === 12, 5000, "all persisted");
    const stored = await s.store.getMany(recs.map((r) => r.id));
    await waitFor(
      async () => (await s.backend.workingSet.get(["x-11"]))[0]?.updatedAtUs === stored[11]!.updatedAtUs,
      5000,
      "cache refreshed",
    );
    const cached = await s.backend.workingSet.get(recs.map((r) => r.id));
    cached.forEach((c, i) => {
      expect(c.updatedAtUs).toBe(stored[i]!.updatedAtUs);
      expect(c.createdAtUs).toBe(stored[i]!.createdAtUs);
      expect(c.updatedAtUs).not.toBe(published[i]!.updatedAtUs);
      expect(c.contentType).toBe("text/markdown");
      expect(Array.from(c.content)).toEqual([i, 0, 255]);
      expect(c.metadata).toEqual(recs[i]!.metadata);
      expect(bits(c.embedding!)).toEqual(bits(recs[i]!.embedding));
    });
    const odd = await s.backend.workingSet.query({ filter: { metadata: { topic: "odd" } }, limit: 100 });
    expect(odd.map((r) => r.id).sort()).toEqual(["x-1", "x-11", "x-3", "x-5", "x-7", "x-9"]);
    const byUpdate = await s.backend.workingSet.query({
      filter: { updatedFromUs: stored[0]!.updatedAtUs },
      limit: 100,
    });
    expect(byUpdate.length).toBe(12);
    await waitFor(
      () => events.got.filter((e) => e.details.includes("GLM version")).length === 12,
      5000,
      "refresh events",
    );
    const refreshed = events.got.filter((e) => e.details.includes("GLM version"));
    expect(refreshed.every((e) => e.kind === "updated")).toBe(true);
    expect(refreshed.find((e) => e.kemId === "x-3")!.metadata).toEqual({ topic: "odd", deep: { i: 3 } });
    events.sub.close();
    await s.close();
  });
});
