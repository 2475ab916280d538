/**
 * GLM's scale-out vector backend on a Qdrant server (`@qdrant/js-client-rest`; docs/storage.md
 * "Qdrant point layout"): one collection with the configured dimension and cosine distance, point
 * payload (`kem_id_ref`, `md_<key>`, `created_at_ts`, `updated_at_ts`), payload indexes for the
 * filtered keys, and GLM filters translated to Qdrant filters. The index is shared by every DCSM
 * process pointing at the same Qdrant, so it is `external`: writes can fail independently of
 * SQLite, and the repository undoes the rows when they do (docs/consistency.md).
 * @module
 */
import { QdrantClient } from "@qdrant/js-client-rest";
import { BackendUnavailableError, InvalidInputError } from "../../common/errors.ts";
import type { VectorHit, VectorIndex, VectorSearchOptions } from "../ports.ts";
import { isAfter, sortHits } from "./exact-store.ts";
import { payloadOf, pointIdOf, toQdrantFilter } from "./qdrant-filter.ts";

/** Options of {@link createQdrantVectorIndex}. */
export interface QdrantVectorIndexOptions {
  /** Qdrant URL, e.g. "http://127.0.0.1:6333" (`QDRANT_URL`, or built from `QDRANT_HOST`/`QDRANT_PORT`). */
  url: string;
  /** API key, if the server requires one. */
  apiKey?: string;
  /** Collection name. @default "dcsm_kems" */
  collection?: string;
  /** Vector dimension. */
  dimension: number;
  /** Metadata keys to create keyword payload indexes for (`md_<key>`). @default [] */
  indexedKeys?: string[];
  /** Request timeout in ms. @default 10000 */
  timeoutMs?: number;
}

/** The Qdrant index with its collection helper. */
export interface QdrantVectorIndex extends VectorIndex {
  /** Creates the collection and payload indexes when missing (also done lazily on first use). */
  ensureCollection(): Promise<void>;
}

/**
 * Creates the Qdrant-backed index. Nothing is sent until the first call.
 * Errors: every call rejects with `BackendUnavailableError` (→ `Unavailable`) when Qdrant cannot be
 * reached or answers with an error, and with `InvalidInputError` for a vector of the wrong dimension.
 */
export function createQdrantVectorIndex(options: QdrantVectorIndexOptions): QdrantVectorIndex {
  const collection = options.collection ?? "dcsm_kems";
  const dim = options.dimension;
  const client = new QdrantClient({
    url: options.url,
    apiKey: options.apiKey,
    timeout: options.timeoutMs ?? 10_000,
    checkCompatibility: false,
  });
  let ready: Promise<void> | null = null;
  let knownSize = 0;

  const fail = (what: string, err: unknown): never => {
    throw new BackendUnavailableError(`Qdrant ${what} failed: ${(err as Error)?.message ?? String(err)}`, {
      cause: err,
    });
  };

  async function create(): Promise<void> {
    const { exists } = await client.collectionExists(collection);
    if (!exists) {
      await client.createCollection(collection, { vectors: { size: dim, distance: "Cosine" } });
    } else {
      const info = await client.getCollection(collection);
      const vectors = info.config.params.vectors as { size?: number } | undefined;
      if (vectors?.size !== undefined && vectors.size !== dim) {
        throw new Error(`collection ${collection} has dimension ${vectors.size}, but DCSM is configured for ${dim}`);
      }
    }
    await client.createPayloadIndex(collection, { field_name: "kem_id_ref", field_schema: "keyword", wait: true });
    await client.createPayloadIndex(collection, { field_name: "created_at_ts", field_schema: "integer", wait: true });
    await client.createPayloadIndex(collection, { field_name: "updated_at_ts", field_schema: "integer", wait: true });
    for (const key of options.indexedKeys ?? []) {
      await client.createPayloadIndex(collection, { field_name: `md_${key}`, field_schema: "keyword", wait: true });
    }
  }

  function ensureCollection(): Promise<void> {
    ready ??= create().catch((err) => {
      ready = null;
      return fail("collection setup", err);
    });
    return ready;
  }

  const checkDim = (v: Float32Array, what: string) => {
    if (v.length !== dim) throw new InvalidInputError(`${what} has dimension ${v.length} (expected ${dim})`);
  };

  async function refreshCount(): Promise<void> {
    try {
      knownSize = (await client.count(collection, { exact: true })).count;
    } catch {
      /* stats only */
    }
  }

  return {
    dimension: dim,
    external: true,
    ensureCollection,
    async upsert(entries) {
      for (const e of entries) checkDim(e.vector, "vector");
      if (entries.length === 0) return;
      await ensureCollection();
      const points = entries.map((e) => ({
        id: pointIdOf(e.id),
        vector: Array.from(e.vector),
        payload: e.payload
          ? payloadOf(e.id, e.payload.metadata, e.payload.createdAtUs, e.payload.updatedAtUs)
          : { kem_id_ref: e.id },
      }));
      await client.upsert(collection, { wait: true, points }).catch((err) => fail("upsert", err));
      await refreshCount();
    },
    async remove(ids) {
      if (ids.length === 0) return;
      await ensureCollection();
      await client.delete(collection, { wait: true, points: ids.map(pointIdOf) }).catch((err) => fail("delete", err));
      await refreshCount();
    },
    async search(query, k, opts: VectorSearchOptions = {}) {
      checkDim(query, "query vector");
      if (k <= 0) return [];
      await ensureCollection();
      const filter = toQdrantFilter(opts.filter);
      const hits: VectorHit[] = [];
      // Qdrant pages by offset; keep fetching until k hits pass the cursor and the exact SQLite
      // filter (`allow`), which also makes second-resolution date bounds exact.
      let offset = Math.max(0, (opts.offset ?? 0) - 1);
      const limit = Math.max(k * 2, 16);
      for (let round = 0; round < 8 && hits.length < k; round++) {
        const res = await client
          .query(collection, { query: Array.from(query), filter, limit, offset, with_payload: ["kem_id_ref"] })
          .catch((err) => fail("query", err));
        for (const p of res.points) {
          const id = String((p.payload as { kem_id_ref?: unknown } | null)?.kem_id_ref ?? p.id);
          const score = Math.fround(p.score);
          if (opts.allow && !opts.allow.has(id)) continue;
          if (isAfter(score, id, opts.after) && !hits.some((h) => h.id === id)) hits.push({ id, score });
        }
        if (res.points.length < limit) break;
        offset += limit;
      }
      return sortHits(hits).slice(0, k);
    },
    async clear() {
      await client.deleteCollection(collection).catch((err) => fail("delete collection", err));
      ready = null;
      knownSize = 0;
      await ensureCollection();
    },
    stats: () => ({ size: knownSize, unindexed: 0, kind: "qdrant" }),
    async close() {},
  };
}
