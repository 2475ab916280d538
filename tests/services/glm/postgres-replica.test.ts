/**
 * Each node's vector index is a replica of the PostgreSQL store: restored from its HNSW snapshot
 * plus the change log since it at start-up, and woken by LISTEN/NOTIFY when another node commits.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { normalizeVector } from "../../../services/common/kem-mapping.ts";
import { KemRepository } from "../../../services/glm/kem-repository.ts";
import { createPostgresKemStore } from "../../../services/glm/store/postgres-store.ts";
import { createExactVectorIndex } from "../../../services/glm/vector/exact-index.ts";
import { createHnswVectorIndex } from "../../../services/glm/vector/hnsw-index.ts";
import { testPostgres } from "../../helpers/postgres.ts";
import { removeTempDirs, tempDir } from "../../helpers/temp-dir.ts";
import { numberedKems, prng, randomVector, unitVectors } from "../../helpers/vectors.ts";
import { waitFor } from "../../helpers/wait-for.ts";

const pg = await testPostgres();
afterAll(async () => {
  await pg?.close();
  removeTempDirs();
});
const DIM = 32;
const enc = new TextEncoder();

describe.skipIf(!pg)("vector index replicas on PostgreSQL", () => {
  test("a restart restores the HNSW snapshot and applies only the changes other nodes made since", async () => {
    const { url } = await pg!.createDatabase();
    const dir = tempDir();
    const rand = prng(7);
    const vecs = unitVectors(400, DIM, rand);
    const rec = numberedKems(vecs);

    const store1 = await createPostgresKemStore({ url, maxConnections: 2 });
    const index1 = createHnswVectorIndex({ dimension: DIM, snapshotDir: dir, exactThreshold: 10 });
    const repo1 = new KemRepository({ store: store1, index: index1 });
    await repo1.open();
    await repo1.write(vecs.map((_, i) => rec(i)));
    await index1.drained();
    await index1.close(); // writes the snapshot at the current change-log position
    await store1.close();

    // Another node changes the store while this one is down.
    const other = await createPostgresKemStore({ url, maxConnections: 2 });
    await other.upsertMany([rec(0, vecs[399]!)]);
    await other.delete("s1");

    const store2 = await createPostgresKemStore({ url, maxConnections: 2 });
    const index2 = createHnswVectorIndex({ dimension: DIM, snapshotDir: dir, exactThreshold: 10 });
    expect(await index2.snapshotPosition()).toBe(400);
    const repo2 = new KemRepository({ store: store2, index: index2 });
    await repo2.open();
    expect(index2.stats().unindexed).toBeLessThanOrEqual(1);
    expect(index2.stats().size).toBe(399);
    expect((await repo2.search(vecs[399]!, 2)).map((h) => h.id).sort()).toEqual(["s0", "s399"]);
    expect((await repo2.search(vecs[1]!, 5)).some((h) => h.id === "s1")).toBe(false);
    await index2.close();
    await store2.close();
    await other.close();
  });

  test("NOTIFY wakes another node's index: it follows writes without a search", async () => {
    const { url } = await pg!.createDatabase();
    const rand = prng(8);
    const storeA = await createPostgresKemStore({ url, maxConnections: 2 });
    const storeB = await createPostgresKemStore({ url, maxConnections: 2 });
    const repoA = new KemRepository({ store: storeA, index: createExactVectorIndex({ dimension: DIM }) });
    const indexB = createExactVectorIndex({ dimension: DIM });
    const repoB = new KemRepository({ store: storeB, index: indexB });
    await repoA.open();
    await repoB.open();
    const stop = await storeB.onChange(() => repoB.requestCatchUp());
    for (let i = 0; i < 20; i++) {
      const v = normalizeVector(randomVector(DIM, rand), DIM, "v");
      await repoA.write([
        { id: `n${i}`, contentType: "text/plain", content: enc.encode("x"), metadata: {}, embedding: v },
      ]);
      // Poll B's index itself (repository.search would catch up on its own).
      const found = await waitFor(async () => (await indexB.search(v, 1))[0]?.id === `n${i}`, {
        timeoutMs: 1000,
        intervalMs: 5,
        what: `n${i} in B's index`,
      });
      expect(found).toBe(true);
    }
    await repoA.delete("n3");
    await waitFor(() => indexB.stats().size === 19, {
      timeoutMs: 1000,
      intervalMs: 5,
      what: "the delete in B's index",
    });
    expect(indexB.stats().size).toBe(19);
    await stop();
    await storeA.close();
    await storeB.close();
  });
});
