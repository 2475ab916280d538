/**
 * The GLM service (`dcsm.v1.GlobalLongTermMemoryService`; docs/storage.md, docs/search.md):
 * the durable store of every KEM, with metadata/date filters, vector and text search, pagination,
 * batch store, update and delete. Works against the {@link KemStore} and {@link VectorIndex} ports.
 * @module
 */
import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  BatchStoreKEMResultSchema,
  DeleteKEMResponseSchema,
  type GlobalLongTermMemoryService,
  MetadataUpdateMode,
  RetrieveKEMsResponseSchema,
  StoreKEMResponseSchema,
  UpdateKEMResponseSchema,
} from "../../sdk/gen/dcsm/v1/glm_service_pb.ts";
import { type KEM, SearchMode } from "../../sdk/gen/dcsm/v1/kem_pb.ts";
import {
  BackendUnavailableError,
  InvalidInputError,
  LimitExceededError,
  mapErrors,
  NotFoundError,
} from "../common/errors.ts";
import { itemError, itemErrorOf } from "../common/item-error.ts";
import {
  checkMetadataSize,
  kemToWrite,
  normalizeVector,
  type ParsedQuery,
  parseKemQuery,
  recordToKem,
  resolvePageSize,
  validateKemId,
} from "../common/kem-mapping.ts";
import type { KemWrite } from "../common/kem-record.ts";
import { updatedOrderPage } from "../common/keyset-page.ts";
import { DEFAULT_KEM_LIMITS, type KemLimits } from "../common/limits.ts";
import { decodePageToken, encodePageToken, fingerprint } from "../common/page-token.ts";
import { kemWireBytes } from "../common/response-budget.ts";
import { batchStoreResponse } from "./batch-response.ts";
import type { KemRepository } from "./kem-repository.ts";
import type { KemPatch, QueryEmbedder } from "./ports.ts";
import {
  type HybridOptions,
  KemSearch,
  MAX_HYBRID_WINDOW,
  type ResolvedMode,
  type SearchCursor,
} from "./search/kem-search.ts";

/** Dependencies of {@link createGlmService}. */
export interface GlmServiceOptions {
  /** Store and vector index, kept consistent (open it before serving). */
  repository: KemRepository;
  /** Embeds `text_query`; without it text queries fail with `FailedPrecondition`. */
  embedder?: QueryEmbedder;
  /** Limits. @default DEFAULT_KEM_LIMITS */
  limits?: KemLimits;
  /** Hybrid ranking parameters. @default DEFAULT_HYBRID */
  hybrid?: Partial<HybridOptions>;
}

/** Fields `UpdateKEM` can change (`update_mask` paths). */
const UPDATABLE = new Set(["content", "content_type", "metadata", "embeddings"]);

function queryKey(parsed: ParsedQuery, mode: ResolvedMode | undefined): string {
  const vec = parsed.vector
    ? fingerprint(
        Buffer.from(parsed.vector.buffer, parsed.vector.byteOffset, parsed.vector.byteLength).toString("base64"),
      )
    : "";
  return fingerprint(JSON.stringify([parsed.filter, vec, parsed.text ?? "", mode ?? ""]));
}

/**
 * Creates the GLM service implementation.
 *
 * Errors (Connect codes): `InvalidArgument` for bad input (ids, dimension, empty content, limits,
 * page tokens), `NotFound` for unknown ids on update/delete, `FailedPrecondition` for a text query
 * without a model, `ResourceExhausted` for batches over the limit, `Unavailable` when storage is busy.
 * @param options - store, index, optional embedder and limits.
 */
export function createGlmService(options: GlmServiceOptions): ServiceImpl<typeof GlobalLongTermMemoryService> {
  const { repository: repo, embedder } = options;
  const store = repo.store;
  const limits = options.limits ?? DEFAULT_KEM_LIMITS;
  const search = new KemSearch({ repository: repo, embedder, dimension: limits.dimension, hybrid: options.hybrid });
  if (repo.index.dimension !== limits.dimension) {
    throw new Error(
      `vector index dimension ${repo.index.dimension} differs from the configured dimension ${limits.dimension}`,
    );
  }

  /** Writes records through the repository; storage failures become `Unavailable`. */
  async function persist(items: KemWrite[], keys?: (string | undefined)[]) {
    try {
      return await repo.write(items, keys);
    } catch (err) {
      if (err instanceof BackendUnavailableError) throw err;
      throw new BackendUnavailableError("storage did not accept the write; nothing was stored, retry later", {
        cause: err,
      });
    }
  }

  return {
    storeKEM: mapErrors(async (req) => {
      const write = kemToWrite(req.kem, limits);
      checkIdempotencyKey(req.idempotencyKey, limits, "idempotency_key");
      const [outcome] = await persist([write], [req.idempotencyKey || undefined]);
      if ("error" in outcome!) throw outcome.error;
      return create(StoreKEMResponseSchema, { kem: recordToKem(outcome!.record) });
    }),

    batchStoreKEMs: mapErrors(async (req) => {
      if (req.kems.length > limits.maxBatchSize) {
        throw new LimitExceededError(`batch has ${req.kems.length} KEMs, over the limit of ${limits.maxBatchSize}`);
      }
      if (req.idempotencyKeys.length > 0 && req.idempotencyKeys.length !== req.kems.length) {
        throw new InvalidInputError(
          `idempotency_keys has ${req.idempotencyKeys.length} entries for ${req.kems.length} KEMs`,
        );
      }
      const results = req.kems.map((_, index) => create(BatchStoreKEMResultSchema, { index }));
      const valid: KemWrite[] = [];
      const validKeys: (string | undefined)[] = [];
      const validAt: number[] = [];
      req.kems.forEach((kem, i) => {
        try {
          const write = kemToWrite(kem, limits);
          checkIdempotencyKey(req.idempotencyKeys[i] ?? "", limits, `idempotency_keys[${i}]`);
          valid.push(write);
          validKeys.push(req.idempotencyKeys[i] || undefined);
          validAt.push(i);
        } catch (err) {
          results[i]!.outcome = { case: "error", value: itemErrorOf(err) };
        }
      });
      const stored = valid.length > 0 ? await persist(valid, validKeys) : [];
      stored.forEach((outcome, j) => {
        const r = results[validAt[j]!]!;
        // Embeddings are not echoed back: the caller sent them, and they dominate the response size.
        if ("record" in outcome) r.outcome = { case: "kem", value: recordToKem(outcome.record, false) };
        else r.outcome = { case: "error", value: itemError(outcome.error.code, outcome.error.message) };
      });
      return batchStoreResponse(results, req.kems);
    }),

    retrieveKEMs: mapErrors(async (req) => {
      const parsed = parseKemQuery(req.query, limits);
      const pageSize = resolvePageSize(req.pageSize, limits);
      const mode = search.resolveMode(parsed, req.query?.searchMode ?? SearchMode.UNSPECIFIED);
      const key = queryKey(parsed, mode);
      if (mode) {
        const cursor = decodePageToken<SearchCursor>(req.pageToken, key);
        if (
          cursor &&
          (typeof cursor.s !== "number" ||
            typeof cursor.i !== "string" ||
            !Number.isSafeInteger(cursor.o) ||
            cursor.o < 0 ||
            (cursor.w !== undefined &&
              (!Number.isSafeInteger(cursor.w) || cursor.w < 1 || cursor.w > MAX_HYBRID_WINDOW)))
        ) {
          throw new InvalidInputError("page_token is malformed");
        }
        const { hits, window } = await search.page(parsed, mode, pageSize + 1, cursor);
        const byId = new Map((await store.getMany(hits.slice(0, pageSize).map((h) => h.id))).map((r) => [r.id, r]));
        const kems: KEM[] = [];
        const scores: number[] = [];
        let budget = limits.maxResponseBytes;
        let taken = 0;
        for (const h of hits.slice(0, pageSize)) {
          const rec = byId.get(h.id);
          taken++;
          if (!rec) continue; // deleted meanwhile
          const kem = recordToKem(rec);
          budget -= kemWireBytes(rec);
          if (budget < 0 && kems.length > 0) {
            taken--;
            break;
          }
          kems.push(kem);
          scores.push(h.score);
        }
        const last = hits[taken - 1];
        const more = taken < hits.length;
        const next: SearchCursor | undefined =
          more && last
            ? { s: last.score, i: last.id, o: (cursor?.o ?? 0) + taken, ...(window ? { w: window } : {}) }
            : undefined;
        return create(RetrieveKEMsResponseSchema, {
          kems,
          scores,
          nextPageToken: next ? encodePageToken(next, key) : "",
        });
      }
      const page = await updatedOrderPage({
        pageToken: req.pageToken,
        queryKey: key,
        pageSize,
        maxResponseBytes: limits.maxResponseBytes,
        read: (limit, after) => store.find(parsed.filter, limit, after),
      });
      return create(RetrieveKEMsResponseSchema, page);
    }),

    updateKEM: mapErrors(async (req) => {
      validateKemId(req.kemId, limits, "kem_id");
      const upd = req.kemDataUpdate;
      if (!upd) throw new InvalidInputError("kem_data_update is required");
      let paths = req.updateMask?.paths ?? [];
      if (paths.length === 0) {
        paths = [];
        if (upd.content.byteLength > 0) paths.push("content");
        if (upd.contentType !== "") paths.push("content_type");
        if (upd.metadata !== undefined) paths.push("metadata");
        if (upd.embeddings.length > 0) paths.push("embeddings");
        if (paths.length === 0) throw new InvalidInputError("kem_data_update sets no field");
      }
      const patch: KemPatch = {};
      for (const p of paths) {
        if (!UPDATABLE.has(p))
          throw new InvalidInputError(
            `update_mask path ${JSON.stringify(p)} is not updatable; use content, content_type, metadata or embeddings`,
          );
        if (p === "content") {
          if (upd.content.byteLength === 0) throw new InvalidInputError("kem.content is empty");
          if (upd.content.byteLength > limits.maxContentBytes)
            throw new InvalidInputError(
              `kem.content is ${upd.content.byteLength} bytes, over the limit of ${limits.maxContentBytes}`,
            );
          patch.content = upd.content;
        } else if (p === "content_type") {
          patch.contentType = upd.contentType || "text/plain";
        } else if (p === "metadata") {
          patch.metadata = upd.metadata ?? {};
          patch.replaceMetadata = req.metadataMode === MetadataUpdateMode.REPLACE;
          checkMetadataSize(patch.metadata, limits);
          patch.validate = (next) => checkMetadataSize(next.metadata, limits);
        } else {
          patch.embedding =
            upd.embeddings.length > 0 ? normalizeVector(upd.embeddings, limits.dimension, "kem.embeddings") : null;
        }
      }
      const rec = await repo.update(req.kemId, patch);
      return create(UpdateKEMResponseSchema, { kem: recordToKem(rec) });
    }),

    deleteKEM: mapErrors(async (req) => {
      validateKemId(req.kemId, limits, "kem_id");
      if (!(await repo.delete(req.kemId))) throw new NotFoundError(`KEM ${req.kemId} not found`);
      return create(DeleteKEMResponseSchema, {});
    }),
  };
}

/**
 * Checks an idempotency key's length (docs/storage.md "Idempotency keys").
 * @throws InvalidInputError (→ `InvalidArgument`) for a key over `maxIdempotencyKeyChars`.
 */
function checkIdempotencyKey(key: string, limits: KemLimits, field: string): void {
  if (key.length > limits.maxIdempotencyKeyChars) {
    throw new InvalidInputError(
      `${field} is ${key.length} characters, over the limit of ${limits.maxIdempotencyKeyChars}`,
    );
  }
}
