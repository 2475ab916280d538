/**
 * The vector index part: Qdrant when `DCSM_QDRANT_URL` is set, otherwise the in-process index
 * `DCSM_VECTOR_INDEX` names ("hnsw", snapshotted under `<dataDir>/vector-index`, or "exact")
 * (docs/search.md).
 * @module
 */
import { join } from "node:path";
import { NAMESPACE_KEY } from "../../services/common/access.ts";
import type { VectorIndex } from "../../services/glm/ports.ts";
import { createExactVectorIndex } from "../../services/glm/vector/exact-index.ts";
import { createHnswVectorIndex } from "../../services/glm/vector/hnsw-index.ts";
import { createQdrantVectorIndex } from "../../services/glm/vector/qdrant-index.ts";
import { type DcsmConfig, qdrantUrlOf } from "../config.ts";
import type { Logger } from "../logger.ts";
import type { StartedPart } from "./part-stack.ts";
import type { Storage } from "./storage.ts";

/** Which index the configuration selects. */
export type VectorIndexKind = "qdrant" | "exact" | "hnsw";

/** The index `config` selects: Qdrant whenever its URL is set, else `config.vectorIndex`. */
export function vectorIndexKindOf(config: DcsmConfig): VectorIndexKind {
  return qdrantUrlOf(config) ? "qdrant" : config.vectorIndex === "exact" ? "exact" : "hnsw";
}

/**
 * Creates the index (empty: GLM's repository loads it from the store). Qdrant must be reachable:
 * its collection is checked or created here, and GLM does not start without it. Stopping closes
 * the index (an HNSW index writes its snapshot).
 * @param storage - the opened store (its size sizes the exact index; a PostgreSQL store's
 *   identity keys the HNSW snapshot folder).
 * @throws when Qdrant is unreachable or its collection has another dimension.
 */
export async function startVectorIndex(
  config: DcsmConfig,
  dataDir: string,
  storage: Storage,
  log: Logger,
): Promise<StartedPart<VectorIndex>> {
  const index = await createIndex(config, dataDir, storage, log);
  if (vectorIndexKindOf(config) === "qdrant") {
    try {
      await (index as ReturnType<typeof createQdrantVectorIndex>).ensureCollection();
    } catch (err) {
      await index.close();
      throw err;
    }
  }
  return { value: index, stop: () => index.close() };
}

async function createIndex(config: DcsmConfig, dataDir: string, storage: Storage, log: Logger): Promise<VectorIndex> {
  switch (vectorIndexKindOf(config)) {
    case "qdrant":
      return createQdrantVectorIndex({
        url: qdrantUrlOf(config),
        apiKey: config.qdrantApiKey || undefined,
        collection: config.qdrantCollection,
        dimension: config.dimension,
        indexedKeys: [...new Set([...config.glmIndexedKeys, NAMESPACE_KEY])], // scoped queries filter on namespace
      });
    case "exact":
      return createExactVectorIndex({
        dimension: config.dimension,
        initialCapacity: Math.max(1024, await storage.store.count()),
      });
    case "hnsw":
      return createHnswVectorIndex({
        dimension: config.dimension,
        // On PostgreSQL the snapshot is keyed by the store's identity: one restored against another database would be wrong.
        snapshotDir: storage.postgres
          ? join(dataDir, "vector-index", `postgres-${storage.postgres.storeId}`)
          : join(dataDir, "vector-index"),
        log,
      });
  }
}
