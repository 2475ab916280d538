/**
 * A {@link KemSink} that never loses embedded chunks while GLM is unreachable (docs/consistency.md):
 * when the wrapped sink gives up with `Unavailable` (after its own retries), the KEMs go to a
 * durable {@link PersistQueue} (the write-behind queue SWM uses; in `dcsm serve` a SQLite file in
 * the data folder) and a write-behind worker stores them in GLM once it answers again.
 *
 * Order and consistency rules while anything is queued (or GLM was just found down):
 * - new batches are queued too, behind the older ones, so a document re-ingested twice ends with
 *   its latest version in GLM;
 * - `findByMetadata` answers "nothing stored" instead of reading GLM (whose state lags the queue),
 *   so every chunk is embedded and written again rather than skipped as unchanged against a stale
 *   copy; chunk ids are deterministic, so the rewrite is an upsert;
 * - `deleteMany` is skipped: chunks a shrunken document no longer has stay in GLM until that
 *   document is processed again with GLM reachable (then they are found and removed).
 * @module
 */
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { v7 as uuidv7 } from "uuid";
import { type BatchStoreKEMsResponse, BatchStoreKEMsResponseSchema } from "../../sdk/gen/dcsm/v1/glm_service_pb.ts";
import { type KEM, KEMSchema } from "../../sdk/gen/dcsm/v1/kem_pb.ts";
import { kemToRecord } from "../write-behind/codec.ts";
import type { PersistQueue } from "../write-behind/ports.ts";
import { glmUnreachable } from "./glm-sink.ts";
import type { KemSink } from "./ports.ts";
import { markQueued } from "./queued-results.ts";

/** Options of {@link createDurableKemSink}. */
export interface DurableKemSinkOptions {
  /** The sink to GLM (with its retries, e.g. `createGlmSink`). */
  inner: KemSink;
  /** Durable queue for KEMs GLM could not take. */
  queue: PersistQueue;
  /** Called after KEMs were queued (wakes the worker draining `queue`). */
  onEnqueued?: () => void;
  /** Logger. */
  log?: { warn(obj: object, msg: string): void };
}

/**
 * Wraps `inner` so batch stores are queued durably instead of failing while GLM is unreachable.
 *
 * `batchStore` then answers with one `kem` result per KEM (ids assigned here with UUIDv7 where
 * the request left them empty; no timestamps), recognisable with `queuedIn()` from
 * `queued-results.ts`. Errors: `findByMetadata` and `batchStore` no longer throw `Unavailable`;
 * queue failures (disk full, …) propagate (→ `Internal`); other GLM errors pass through unchanged.
 * @param options - inner sink, queue, wake-up callback, logger.
 */
export function createDurableKemSink(options: DurableKemSinkOptions): KemSink {
  const { inner, queue } = options;
  /** GLM failed and nothing was queued since: route the next writes to the queue. */
  let suspectDown = false;
  const degraded = async () => suspectDown || (await queue.stats()).depth > 0;

  async function enqueue(kems: KEM[]): Promise<BatchStoreKEMsResponse> {
    const withIds = kems.map((k) => (k.id ? k : create(KEMSchema, { ...k, id: uuidv7() })));
    await queue.enqueue(withIds.map(kemToRecord));
    suspectDown = false; // the queue itself now says "GLM is behind"
    options.onEnqueued?.();
    const res = create(BatchStoreKEMsResponseSchema, {
      results: withIds.map((kem, index) => ({ index, outcome: { case: "kem" as const, value: kem } })),
      successfullyStoredKems: withIds,
    });
    return markQueued(res, withIds.length);
  }

  return {
    async batchStore(request) {
      const kems = (request.kems ?? []).map((k: MessageInitShape<typeof KEMSchema>) => create(KEMSchema, k));
      if (await degraded()) return enqueue(kems);
      try {
        return await inner.batchStore(request);
      } catch (err) {
        if (!glmUnreachable(err)) throw err;
        options.log?.warn(
          { err, kems: kems.length },
          "GLM unreachable: KPS queued the chunks durably; they are stored when GLM returns",
        );
        return enqueue(kems);
      }
    },
    async findByMetadata(filters) {
      if (await degraded()) return [];
      try {
        return await inner.findByMetadata(filters);
      } catch (err) {
        if (!glmUnreachable(err)) throw err;
        suspectDown = true;
        return [];
      }
    },
    async deleteMany(ids) {
      if (await degraded()) {
        options.log?.warn(
          { ids: ids.length },
          "GLM behind the KPS queue: stale chunks are kept until the document is processed again",
        );
        return;
      }
      try {
        await inner.deleteMany(ids);
      } catch (err) {
        if (!glmUnreachable(err)) throw err;
        suspectDown = true;
        options.log?.warn(
          { ids: ids.length },
          "GLM unreachable: stale chunks are kept until the document is processed again",
        );
      }
    },
  };
}
