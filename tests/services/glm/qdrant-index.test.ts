/**
 * The Qdrant backend. The contract suite runs against a real Qdrant when QDRANT_URL is set (no
 * Qdrant server can run on the project's machines). The consistency test always runs: a Qdrant
 * URL that refuses connections is a real fault, and the rows must be undone (docs/consistency.md).
 */
import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { BackendUnavailableError } from "../../../services/common/errors.ts";
import { normalizeVector } from "../../../services/common/kem-mapping.ts";
import { KemRepository } from "../../../services/glm/kem-repository.ts";
import { createSqliteKemStore } from "../../../services/glm/store/sqlite-store.ts";
import { createQdrantVectorIndex } from "../../../services/glm/vector/qdrant-index.ts";
import { removeTempDirs, tempDir } from "../../helpers/temp-dir.ts";
import { prng, randomVector } from "../../helpers/vectors.ts";
import { vectorIndexContract } from "./vector-index-contract.ts";

afterAll(removeTempDirs);
const QDRANT_URL = process.env.QDRANT_URL;

if (QDRANT_URL) {
  let n = 0;
  vectorIndexContract(
    "qdrant",
    async (dimension) => {
      const index = createQdrantVectorIndex({
        url: QDRANT_URL,
        dimension,
        collection: `dcsm_test_${process.pid}_${n++}`,
      });
      await index.clear();
      return index;
    },
    { exact: true },
  );
}

describe("Qdrant consistency with SQLite", () => {
  test("when Qdrant refuses a batch, new rows are removed, replaced rows restored, and every item reports Unavailable", async () => {
    const store = createSqliteKemStore({ path: join(tempDir(), "glm.sqlite") });
    const enc = new TextEncoder();
    const v = normalizeVector(randomVector(8, prng(1)), 8, "v");
    // An existing KEM written before Qdrant was configured.
    const [old] = await store.upsertMany([
      { id: "old", contentType: "text/plain", content: enc.encode("old version"), metadata: { v: 1 }, embedding: v },
    ]);
    const index = createQdrantVectorIndex({ url: "http://127.0.0.1:9", dimension: 8, timeoutMs: 2000 });
    const repo = new KemRepository({ store, index });
    await repo.open();
    const outcomes = await repo.write([
      { id: "old", contentType: "text/plain", content: enc.encode("new version"), metadata: { v: 2 }, embedding: v },
      { id: "fresh", contentType: "text/plain", content: enc.encode("fresh"), metadata: {}, embedding: v },
    ]);
    expect(outcomes.map((o) => ("error" in o ? o.error.constructor : null))).toEqual([
      BackendUnavailableError,
      BackendUnavailableError,
    ]);
    expect(await store.getMany(["fresh"])).toEqual([]);
    const [restored] = await store.getMany(["old"]);
    expect(new TextDecoder().decode(restored!.content)).toBe("old version");
    expect(restored!.metadata).toEqual({ v: 1 });
    expect(restored!.updatedAtUs).toBe(old!.updatedAtUs);
    // Updates are undone the same way.
    await expect(repo.update("old", { metadata: { v: 3 } })).rejects.toBeInstanceOf(BackendUnavailableError);
    expect((await store.getMany(["old"]))[0]!.metadata).toEqual({ v: 1 });
    await store.close();
  });
});
