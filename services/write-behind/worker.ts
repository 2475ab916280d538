/**
 * Write-behind worker (docs/consistency.md "Write-behind"): drains the durable
 * {@link PersistQueue} into GLM in batches bounded by size and by the age of the oldest entry —
 * one claim, one decode per record, one GLM write (`KemRepository.write` in this process, one
 * `BatchStoreKEMs` over the network; see `glm-writer.ts`) and one ack per batch; after a full
 * batch the next is claimed at once. Retries with exponential backoff (cockatiel) while GLM is
 * unavailable, sends each entry's idempotency key so a resend after a crash stores nothing twice,
 * and then refreshes the cached KEM with GLM's version (ids, timestamps) when the cache still
 * holds the version queued.
 * @module
 */
import { Code, ConnectError, type Transport } from "@connectrpc/connect";
import { ExponentialBackoff, handleWhen, retry } from "cockatiel";
import { SWM_DEFAULTS } from "../common/defaults.ts";
import type { KemRecord } from "../common/kem-record.ts";
import type { RefreshItem, WorkingSet } from "../swm/ports.ts";
import { createRpcGlmWriter, type GlmBatchWriter } from "./glm-writer.ts";
import type { PersistQueue, QueuedKem, QueueStats } from "./ports.ts";

function sameBytes(a: ArrayBufferView | null, b: ArrayBufferView | null): boolean {
  if (a === b) return true;
  if (!a || !b || a.byteLength !== b.byteLength) return false;
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

/** GLM stored the KEM as queued (only its timestamps differ): the cache's refresh can skip the payload. */
function sameBody(stored: KemRecord, queued: KemRecord): boolean {
  return (
    stored.contentType === queued.contentType &&
    sameBytes(stored.content, queued.content) &&
    sameBytes(stored.embedding, queued.embedding) &&
    (stored.metadata === queued.metadata || JSON.stringify(stored.metadata) === JSON.stringify(queued.metadata))
  );
}

/** Options of {@link createWriteBehindWorker}. */
export interface WriteBehindOptions {
  /** The durable queue. */
  queue: PersistQueue;
  /**
   * GLM: a {@link GlmBatchWriter} (`createRepositoryGlmWriter` for GLM in this process, no
   * serialisation), or a transport to GLM over the network (one `BatchStoreKEMs` per batch).
   */
  glm: Transport | GlmBatchWriter;
  /** Working set refreshed with GLM's versions; none for queues without a cache (KPS's outbox). */
  workingSet?: WorkingSet;
  /** Largest batch sent to GLM (keep it at or below GLM's batch limit). @default 100 */
  batchSize?: number;
  /** A partial batch is sent once its oldest entry is this old, in ms. @default 200 */
  maxDelayMs?: number;
  /** Poll interval when the queue is empty (other processes may enqueue), ms. @default 250 */
  idlePollMs?: number;
  /** First retry delay while GLM is down, ms. @default 100 */
  retryInitialMs?: number;
  /** Longest retry delay, ms. @default 5000 */
  retryMaxMs?: number;
  /** Logger. */
  log?: { warn(obj: object, msg: string): void; info?(obj: object, msg: string): void };
  /**
   * Ownership re-check before each batch is sent (one ownership rule for SWM and GLM): the ids of
   * records that must not be written, with the reason (e.g. GLM holds the id in another
   * namespace). Those entries are dropped from the queue and counted as rejected. Retried like
   * the GLM call when it fails.
   */
  ownershipConflicts?: (records: KemRecord[]) => Promise<Map<string, string>>;
}

/** Counters of the worker since start (for metrics and tests). */
export interface WriteBehindStats extends QueueStats {
  /** KEMs stored in GLM by this worker. */
  persisted: number;
  /** KEMs GLM rejected (invalid for GLM): dropped from the queue and logged. */
  rejected: number;
  /** Failed GLM calls (each retried). */
  failedAttempts: number;
}

/** A running write-behind worker. */
export interface WriteBehindWorker {
  /** Wakes the worker (called after an enqueue in this process). */
  notify(): void;
  /** Queue depth and age plus worker counters. */
  stats(): Promise<WriteBehindStats>;
  /** Resolves once the queue is empty (or rejects after `timeoutMs`). */
  drained(timeoutMs?: number): Promise<void>;
  /** Stops after the current attempt; queued entries stay durable for the next start. */
  stop(): Promise<void>;
}

const TRANSIENT = new Set([
  Code.Unavailable,
  Code.DeadlineExceeded,
  Code.ResourceExhausted,
  Code.Aborted,
  Code.Internal,
  Code.Unknown,
  Code.Canceled,
]);

/**
 * Starts a worker draining `queue` into GLM.
 * @param options - queue, GLM transport, working set, batching and retry settings.
 */
export function createWriteBehindWorker(options: WriteBehindOptions): WriteBehindWorker {
  const { queue, workingSet } = options;
  const glm: GlmBatchWriter = "write" in options.glm ? options.glm : createRpcGlmWriter(options.glm);
  const batchSize = options.batchSize ?? SWM_DEFAULTS.writeBehindBatch;
  const maxDelayMs = options.maxDelayMs ?? SWM_DEFAULTS.writeBehindDelayMs;
  const idlePollMs = options.idlePollMs ?? 250;
  const counters = { persisted: 0, rejected: 0, failedAttempts: 0 };
  const stopping = new AbortController();
  let wake: (() => void) | null = null;
  const policy = retry(
    handleWhen((err) => !(err instanceof ConnectError) || TRANSIENT.has(err.code)),
    {
      maxAttempts: Number.MAX_SAFE_INTEGER,
      backoff: new ExponentialBackoff({
        initialDelay: options.retryInitialMs ?? 100,
        maxDelay: options.retryMaxMs ?? 5000,
      }),
    },
  );
  policy.onRetry(({ delay }) => {
    counters.failedAttempts++;
    options.log?.warn({ delayMs: Math.round(delay) }, "GLM unavailable for write-behind; retrying");
  });

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        wake = null;
        resolve();
      }
      wake = done;
      stopping.signal.addEventListener("abort", done, { once: true });
    });

  async function send(batch: QueuedKem[]): Promise<void> {
    if (options.ownershipConflicts) {
      const check = options.ownershipConflicts;
      const conflicts = await policy.execute(() => check(batch.map((q) => q.record)), stopping.signal);
      const dropped = batch.filter((q) => conflicts.has(q.record.id));
      if (dropped.length > 0) {
        await queue.ack(dropped.map((q) => q.handle));
        counters.rejected += dropped.length;
        for (const q of dropped)
          options.log?.warn(
            { kemId: q.record.id, reason: conflicts.get(q.record.id) },
            "write-behind KEM not written: its id is owned by another namespace in GLM; dropped",
          );
        batch = batch.filter((q) => !conflicts.has(q.record.id));
        if (batch.length === 0) return;
      }
    }
    const outcomes = await policy.execute(async () => {
      if (stopping.signal.aborted) throw new Error("stopping");
      return glm.write(batch, stopping.signal);
    }, stopping.signal);
    // The ack and the working set's refresh (one call for the batch: on Redis one script for the
    // timestamps-only refreshes) are issued together, so they share a round trip. A refresh is
    // a compare-and-set on the version queued, so it is harmless when the ack then fails and the
    // batch is sent again: GLM answers the stored KEMs and the second refresh finds another version.
    const refreshes: RefreshItem[] = [];
    const rejected: number[] = [];
    outcomes.forEach((o, i) => {
      if ("record" in o)
        refreshes.push({
          record: o.record,
          expectedUpdatedAtUs: batch[i]!.record.updatedAtUs,
          timestampsOnly: sameBody(o.record, batch[i]!.record),
        });
      else rejected.push(i);
    });
    const refreshed =
      workingSet && refreshes.length > 0
        ? workingSet
            .refresh(refreshes, {
              agentId: "swm-write-behind",
              details: "refreshed with the GLM version after write-behind",
            })
            .catch(() => {})
        : undefined;
    await Promise.all([queue.ack(batch.map((q) => q.handle)), refreshed]);
    counters.persisted += refreshes.length;
    counters.rejected += rejected.length;
    for (const i of rejected) {
      const o = outcomes[i] as { error: { code: string; message: string } };
      options.log?.warn({ kemId: batch[i]!.record.id, error: o.error }, "GLM rejected a write-behind KEM; dropped");
    }
  }

  const loop = (async () => {
    /** The last claim filled a whole batch: claim again at once (more is likely queued). */
    let more = false;
    while (!stopping.signal.aborted) {
      try {
        if (!more) {
          const st = await queue.stats();
          if (st.depth === 0) {
            await sleep(idlePollMs);
            continue;
          }
          if (st.depth < batchSize && st.oldestAgeMs < maxDelayMs) {
            await sleep(maxDelayMs - st.oldestAgeMs);
            continue;
          }
        }
        const batch = await queue.claim(batchSize);
        more = batch.length === batchSize;
        if (batch.length === 0) {
          await sleep(idlePollMs); // entries claimed by another process
          continue;
        }
        await send(batch);
      } catch (err) {
        more = false;
        if (stopping.signal.aborted) break;
        options.log?.warn({ err }, "write-behind step failed; retrying");
        await sleep(500);
      }
    }
  })();

  return {
    notify() {
      wake?.();
    },
    async stats() {
      return { ...(await queue.stats()), ...counters };
    },
    async drained(timeoutMs = 10_000) {
      const end = Date.now() + timeoutMs;
      while ((await queue.stats()).depth > 0) {
        if (Date.now() > end) throw new Error(`write-behind queue not drained within ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    async stop() {
      stopping.abort();
      await loop;
    },
  };
}
