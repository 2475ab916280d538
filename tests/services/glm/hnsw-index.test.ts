import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { normalizeVector } from "../../../services/common/kem-mapping.ts";
import { KemRepository } from "../../../services/glm/kem-repository.ts";
import { createSqliteKemStore } from "../../../services/glm/store/sqlite-store.ts";
import { createHnswVectorIndex, type HnswVectorIndex } from "../../../services/glm/vector/hnsw-index.ts";
import { removeTempDirs, tempDir } from "../../helpers/temp-dir.ts";
import { numberedKems, prng, randomVector, unitVectors } from "../../helpers/vectors.ts";
import { vectorIndexContract } from "./vector-index-contract.ts";

afterAll(removeTempDirs);

// exactThreshold 10 forces the graph path even on the contract's small sets.
vectorIndexContract(
  "hnsw",
  async (dimension) => createHnswVectorIndex({ dimension, exactThreshold: 10, sliceSize: 64, threads: 1 }),
  {
    exact: false,
    settle: (index) => (index as HnswVectorIndex).drained(),
  },
);

const DIM = 32;
const enc = new TextEncoder();

describe("HNSW index", () => {
  test("writes are searchable at once through the tail, before the graph has them", async () => {
    const index = createHnswVectorIndex({ dimension: DIM, exactThreshold: 10, sliceSize: 16 });
    const rand = prng(21);
    const vs = unitVectors(300, DIM, rand);
    await index.upsert(vs.map((vector, i) => ({ id: `a${i}`, vector })));
    expect(index.stats().unindexed).toBeGreaterThan(0); // the indexer has not run yet
    const [hit] = await index.search(vs[250]!, 1);
    expect(hit).toMatchObject({ id: "a250" });
    await index.drained();
    expect(index.stats()).toEqual({ size: 300, unindexed: 0, kind: "hnsw" });
    const [again] = await index.search(vs[250]!, 1);
    expect(again!.id).toBe("a250");
    await index.close();
  });

  test("a snapshot lets a restart skip the rebuild; changes after it are caught up from the change log", async () => {
    const dir = tempDir();
    const dbPath = join(dir, "glm.sqlite");
    const rand = prng(99);
    const vecs = unitVectors(400, DIM, rand);
    const rec = numberedKems(vecs);

    const store1 = createSqliteKemStore({ path: dbPath });
    const index1 = createHnswVectorIndex({ dimension: DIM, snapshotDir: dir, exactThreshold: 10 });
    const repo1 = new KemRepository({ store: store1, index: index1 });
    await repo1.open();
    await repo1.write(vecs.map((_, i) => rec(i)));
    await index1.drained();
    await index1.close(); // writes the snapshot
    await store1.close();

    // Another writer changes the store while no server runs.
    const other = createSqliteKemStore({ path: dbPath });
    other.upsertMany([rec(0, vecs[399]!)]);
    other.delete("s1");
    other.close();

    const store2 = createSqliteKemStore({ path: dbPath });
    const index2 = createHnswVectorIndex({ dimension: DIM, snapshotDir: dir, exactThreshold: 10 });
    expect(await index2.snapshotPosition()).toBeGreaterThan(0);
    const repo2 = new KemRepository({ store: store2, index: index2 });
    await repo2.open();
    // Only the changed KEM needed indexing; the rest came from the snapshot.
    expect(index2.stats().unindexed).toBeLessThanOrEqual(1);
    expect(index2.stats().size).toBe(399);
    const hits = await repo2.search(vecs[399]!, 2);
    expect(hits.map((h) => h.id).sort()).toEqual(["s0", "s399"]);
    expect((await repo2.search(vecs[1]!, 5)).some((h) => h.id === "s1")).toBe(false);
    await index2.close();
    await store2.close();
  });

  test("large filtered sets over-fetch from the graph; small ones go exact; recall holds", async () => {
    const index = createHnswVectorIndex({ dimension: DIM, exactThreshold: 50 });
    const rand = prng(5);
    const vs = unitVectors(2000, DIM, rand);
    await index.upsert(vs.map((vector, i) => ({ id: `f${i}`, vector })));
    await index.drained();
    const even = new Set(vs.map((_, i) => `f${i}`).filter((_, i) => i % 2 === 0));
    const q = normalizeVector(randomVector(DIM, rand), DIM, "q");
    const hits = await index.search(q, 10, { allow: even });
    expect(hits.length).toBe(10);
    expect(hits.every((h) => even.has(h.id))).toBe(true);
    // Ground truth by brute force over the allowed set.
    const truth = [...even]
      .map((id) => ({ id, s: vs[Number(id.slice(1))]!.reduce((a, x, j) => a + x * q[j]!, 0) }))
      .sort((a, b) => b.s - a.s)
      .slice(0, 10);
    const recall = hits.filter((h) => truth.some((t) => t.id === h.id)).length / 10;
    expect(recall).toBeGreaterThanOrEqual(0.9);
    const few = new Set(["f1", "f3", "f5"]);
    expect((await index.search(q, 10, { allow: few })).map((h) => h.id).sort()).toEqual(["f1", "f3", "f5"]);
    await index.close();
  });

  test("a worker that cannot start leaves exact search working (no crash, no hang)", async () => {
    const index = createHnswVectorIndex({
      dimension: DIM,
      exactThreshold: 10,
      workerUrl: join(tempDir(), "missing-worker.ts"),
    });
    const rand = prng(31);
    const vs = unitVectors(100, DIM, rand);
    await index.upsert(vs.map((vector, i) => ({ id: `w${i}`, vector })));
    await index.drained();
    for (const i of [0, 42, 99]) expect((await index.search(vs[i]!, 1))[0]!.id).toBe(`w${i}`);
    await index.close();
  });

  test("a corrupt snapshot is ignored: the graph is rebuilt from the store", async () => {
    const dir = tempDir();
    const store = createSqliteKemStore({ path: join(dir, "glm.sqlite") });
    const rand = prng(41);
    const vecs = unitVectors(200, DIM, rand);
    await store.upsertMany(
      vecs.map((v, i) => ({
        id: `c${i}`,
        contentType: "text/plain",
        content: enc.encode("c"),
        metadata: {},
        embedding: v,
      })),
    );
    await Bun.write(join(dir, "hnsw.usearch"), "not a usearch file");
    // Right size, wrong content: only the checksum can tell.
    await Bun.write(
      join(dir, "hnsw.meta.json"),
      JSON.stringify({
        version: 1,
        dimension: DIM,
        position: 200,
        nextLabel: 5,
        labels: [[1, "c1"]],
        graphBytes: 18,
        graphMd5: "0".repeat(32),
      }),
    );
    const index = createHnswVectorIndex({ dimension: DIM, snapshotDir: dir, exactThreshold: 10 });
    const repo = new KemRepository({ store, index });
    await repo.open();
    await index.drained();
    expect(index.stats()).toEqual({ size: 200, unindexed: 0, kind: "hnsw" });
    expect((await repo.search(vecs[1]!, 1))[0]!.id).toBe("c1");
    expect((await repo.search(vecs[150]!, 1))[0]!.id).toBe("c150");
    await index.close();
    await store.close();
  });
});
