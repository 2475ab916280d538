/**
 * Where the write-behind worker stores a batch: GLM's repository in this process (records go to
 * the store as they came out of the queue, `Float32Array` embeddings and all, no serialisation),
 * or GLM over the network (one `BatchStoreKEMs` call per batch). Both answer one outcome per item,
 * in order, with the record as GLM stored it (GLM's id and timestamps).
 * @module
 */
import { Code, createClient, type Transport } from "@connectrpc/connect";
import { codeName } from "../../sdk/code-names.ts";
import { GlobalLongTermMemoryService } from "../../sdk/gen/dcsm/v1/glm_service_pb.ts";
import { InvalidInputError } from "../common/errors.ts";
import { checkMetadataSize, recordToKem, validateKemId } from "../common/kem-mapping.ts";
import type { KemRecord, KemWrite } from "../common/kem-record.ts";
import type { KemLimits } from "../common/limits.ts";
import { kemToRecord } from "./codec.ts";
import type { QueuedKem } from "./ports.ts";

/** The outcome of one item: GLM's stored version, or why GLM rejected it (`code` is a Connect code name). */
export type StoredOutcome = { record: KemRecord } | { error: { code: string; message: string } };

/** Stores batches of queued records in GLM. */
export interface GlmBatchWriter {
  /**
   * Stores `batch` with its idempotency keys (an item whose key GLM has seen answers the KEM
   * stored then, so a resend after a crash stores nothing twice).
   * @returns one outcome per item, in order.
   * @throws on a failure of the whole call (GLM unreachable, store busy): nothing or everything
   *   of the batch is stored, and the worker retries transient failures.
   */
  write(batch: readonly QueuedKem[], signal: AbortSignal): Promise<StoredOutcome[]>;
}

/**
 * GLM over a transport (Connect over the network, or a router): one `BatchStoreKEMs` per batch,
 * timing out after `timeoutMs`. GLM does not echo embeddings, so a stored record carries the
 * embedding that was sent (GLM stored it as given: SWM normalized it when it was published).
 * @param transport - Connect transport to GLM.
 * @param timeoutMs - deadline of one call. @default 30000
 */
export function createRpcGlmWriter(transport: Transport, timeoutMs = 30_000): GlmBatchWriter {
  const glm = createClient(GlobalLongTermMemoryService, transport);
  return {
    async write(batch, signal) {
      const res = await glm.batchStoreKEMs(
        { kems: batch.map((q) => recordToKem(q.record)), idempotencyKeys: batch.map((q) => q.idempotencyKey) },
        { signal, timeoutMs },
      );
      const out: StoredOutcome[] = batch.map(() => ({
        error: { code: "internal", message: "GLM answered no result for this item" },
      }));
      for (const r of res.results) {
        const q = batch[r.index];
        if (!q) continue;
        if (r.outcome.case === "kem") {
          const stored = kemToRecord(r.outcome.value);
          out[r.index] = { record: { ...stored, embedding: stored.embedding ?? q.record.embedding } };
        } else if (r.outcome.case === "error")
          out[r.index] = { error: { code: r.outcome.value.code, message: r.outcome.value.message } };
      }
      return out;
    },
  };
}

/** The part of GLM's `KemRepository` the in-process writer uses (`KemRepository.write`). */
export interface KemBatchRepository {
  /**
   * Upserts records in one transaction (then their vectors); items with a known idempotency key
   * answer the KEM stored then. Throws when the store stays busy or fails (nothing stored).
   * @returns one outcome per item, in order.
   */
  write(
    items: KemWrite[],
    keys?: (string | undefined)[],
  ): Promise<({ record: KemRecord } | { error: { code: Code; message: string } })[]>;
}

/**
 * Checks a queued record against GLM's limits the way `BatchStoreKEMs` checks a wire KEM
 * (`kemToWrite`), without copying it: SWM validated and normalized it when it was published, but
 * a queue shared by several processes may hold records checked under other limits.
 * @throws InvalidInputError naming the field and the limit.
 */
export function checkQueuedWrite(rec: KemRecord, limits: KemLimits): void {
  validateKemId(rec.id, limits, "kem.id");
  if (rec.contentType.length > limits.maxIdLength)
    throw new InvalidInputError(`kem.content_type is longer than ${limits.maxIdLength} characters`);
  if (rec.content.byteLength === 0) throw new InvalidInputError("kem.content is empty");
  if (rec.content.byteLength > limits.maxContentBytes)
    throw new InvalidInputError(
      `kem.content is ${rec.content.byteLength} bytes, over the limit of ${limits.maxContentBytes}`,
    );
  checkMetadataSize(rec.metadata, limits);
  const e = rec.embedding;
  if (e) {
    if (e.length !== limits.dimension)
      throw new InvalidInputError(`kem.embeddings has dimension ${e.length} (expected ${limits.dimension})`);
    let norm = 0;
    for (let i = 0; i < e.length; i++) norm += e[i]! * e[i]!;
    if (!Number.isFinite(norm)) throw new InvalidInputError("kem.embeddings holds a value that is not a finite number");
    if (norm === 0) throw new InvalidInputError("kem.embeddings is a zero vector");
  }
}

/**
 * GLM in this process: the batch goes to `repository.write` (one SQLite transaction, then the
 * vector index) as the records came out of the queue. Items failing {@link checkQueuedWrite} are
 * answered `invalid_argument` without reaching the store, as `BatchStoreKEMs` answers them.
 * @param repository - GLM's repository (opened).
 * @param limits - GLM's KEM limits.
 */
export function createRepositoryGlmWriter(repository: KemBatchRepository, limits: KemLimits): GlmBatchWriter {
  return {
    async write(batch) {
      const out: StoredOutcome[] = new Array(batch.length);
      const items: KemWrite[] = [];
      const keys: (string | undefined)[] = [];
      const at: number[] = [];
      batch.forEach((q, i) => {
        const r = q.record;
        try {
          checkQueuedWrite(r, limits);
        } catch (err) {
          out[i] = {
            error: {
              code: codeName((err as InvalidInputError).code ?? Code.InvalidArgument),
              message: (err as Error).message,
            },
          };
          return;
        }
        items.push({
          id: r.id,
          contentType: r.contentType || "text/plain",
          content: r.content,
          metadata: r.metadata,
          embedding: r.embedding,
        });
        keys.push(q.idempotencyKey || undefined);
        at.push(i);
      });
      const stored = items.length > 0 ? await repository.write(items, keys) : [];
      stored.forEach((o, j) => {
        out[at[j]!] =
          "record" in o ? { record: o.record } : { error: { code: codeName(o.error.code), message: o.error.message } };
      });
      return out;
    },
  };
}
