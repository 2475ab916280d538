/**
 * Group commit for KPS's writes to GLM: concurrent `batchStore` calls (one per document being
 * ingested) are merged into one GLM `BatchStoreKEMs` call, so many small documents share one
 * storage transaction instead of paying one each (the classic group commit of database logs).
 *
 * One merged call runs at a time. A call arriving while none runs is sent at once together with
 * every call made in the same turn of the event loop; calls arriving while one runs wait for it and
 * then go together, up to `maxBatchSize` KEMs per GLM call (a single call larger than that is sent
 * alone, unchanged). Each caller gets exactly its own per-item results, re-indexed from 0, as if it
 * had called GLM alone (`BatchStoreKEMs` semantics: proto/dcsm/v1/glm_service.proto).
 * @module
 */
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import {
  type BatchStoreKEMResult,
  type BatchStoreKEMsRequestSchema,
  type BatchStoreKEMsResponse,
  BatchStoreKEMsResponseSchema,
} from "../../sdk/gen/dcsm/v1/glm_service_pb.ts";
import type { KEM, KEMSchema } from "../../sdk/gen/dcsm/v1/kem_pb.ts";
import type { KemSink } from "./ports.ts";
import { markQueued, queuedIn } from "./queued-results.ts";

type StoreRequest = MessageInitShape<typeof BatchStoreKEMsRequestSchema>;

/** Options of {@link createGroupCommitSink}. */
export interface GroupCommitSinkOptions {
  /** The sink that talks to GLM (e.g. `createGlmSink`, or the durable sink around it). */
  inner: KemSink;
  /** Most KEMs per merged GLM call: GLM's batch limit (`KemLimits.maxBatchSize`). */
  maxBatchSize: number;
}

/** Counters of a group-commit sink. */
export interface GroupCommitStats {
  /** `batchStore` calls received. */
  calls: number;
  /** GLM calls made for them. */
  commits: number;
}

interface Pending {
  request: StoreRequest;
  size: number;
  resolve(res: BatchStoreKEMsResponse): void;
  reject(err: unknown): void;
}

/**
 * Wraps `inner` so concurrent `batchStore` calls share GLM calls. `findByMetadata` and
 * `deleteMany` pass through.
 *
 * Errors: when a merged GLM call throws (the whole request failed, e.g. `Unavailable` after the
 * inner sink's retries), every merged call is retried alone, so each caller gets the error (or
 * result) its own request produces and one caller's bad request never fails another's.
 */
export function createGroupCommitSink(options: GroupCommitSinkOptions): KemSink & { stats(): GroupCommitStats } {
  const { inner } = options;
  const maxBatchSize = Math.max(1, options.maxBatchSize);
  let waiting: Pending[] = [];
  let running = false;
  let calls = 0;
  let commits = 0;

  async function sendAlone(p: Pending) {
    commits++;
    try {
      p.resolve(await inner.batchStore(p.request));
    } catch (err) {
      p.reject(err);
    }
  }

  async function sendGroup(group: Pending[]) {
    if (group.length === 1) return sendAlone(group[0]!);
    const kems: MessageInitShape<typeof KEMSchema>[] = [];
    const keys: string[] = [];
    const anyKeys = group.some((p) => (p.request.idempotencyKeys?.length ?? 0) > 0);
    for (const p of group) {
      kems.push(...(p.request.kems ?? []));
      if (anyKeys)
        keys.push(
          ...(p.request.idempotencyKeys?.length ? p.request.idempotencyKeys : new Array<string>(p.size).fill("")),
        );
    }
    let res: BatchStoreKEMsResponse;
    commits++;
    try {
      res = await inner.batchStore({ kems, ...(anyKeys ? { idempotencyKeys: keys } : {}) });
    } catch {
      // Per-request retry: each caller sees the outcome of its own request only.
      for (const p of group) await sendAlone(p);
      return;
    }
    const queued = queuedIn(res) > 0;
    let offset = 0;
    for (const p of group) {
      const lo = offset;
      const hi = offset + p.size;
      offset = hi;
      const results: BatchStoreKEMResult[] = [];
      const ok: KEM[] = [];
      const failed: string[] = [];
      for (const r of res.results) {
        if (r.index < lo || r.index >= hi) continue;
        const index = r.index - lo;
        results.push({ ...r, index });
        if (r.outcome.case === "kem") ok.push(r.outcome.value);
        else failed.push(String(index));
      }
      const part = create(BatchStoreKEMsResponseSchema, {
        results,
        successfullyStoredKems: ok,
        failedKemReferences: failed,
      });
      p.resolve(queued ? markQueued(part, ok.length) : part);
    }
  }

  async function pump() {
    try {
      while (waiting.length > 0) {
        const group: Pending[] = [];
        let size = 0;
        let i = 0;
        while (i < waiting.length && (group.length === 0 || size + waiting[i]!.size <= maxBatchSize)) {
          size += waiting[i]!.size;
          group.push(waiting[i++]!);
        }
        waiting = waiting.slice(i);
        await sendGroup(group);
      }
    } finally {
      running = false;
    }
  }

  return {
    batchStore(request) {
      calls++;
      return new Promise<BatchStoreKEMsResponse>((resolve, reject) => {
        waiting.push({ request, size: request.kems?.length ?? 0, resolve, reject });
        if (!running) {
          running = true;
          queueMicrotask(() => void pump());
        }
      });
    },
    findByMetadata: (filters) => inner.findByMetadata(filters),
    deleteMany: (ids) => inner.deleteMany(ids),
    stats: () => ({ calls, commits }),
  };
}
