/**
 * A bounded queue with dynamic micro-batching in front of the embedding model
 * (docs/decisions/0008-bounded-embedding-queue.md). Inputs from concurrent callers
 * (`/v1/embeddings`, KPS `ProcessRawData`, GLM text queries) are merged into model calls of up to
 * `maxBatch` inputs. When the model is idle, a call starts at once with every input queued in the
 * same turn of the event loop (no batching delay for a lone query); while a model call runs, new
 * inputs gather and the next call takes up to `maxBatch` of them as soon as `maxBatch` wait or the
 * oldest has waited `maxWaitMs` (continuous batching: the batch size follows the load). One model
 * call runs at a time (the model already uses every core). When more than `maxQueue` inputs wait,
 * new calls fail at once with {@link QueueFullError} (HTTP 429 / `ResourceExhausted`) carrying a
 * Retry-After estimate, so memory stays bounded under any load (unbounded queued work, not the
 * model, is what runs a server out of memory).
 * @module
 */

import { EMBEDDING_DEFAULTS } from "../../common/defaults.ts";
import { LimitExceededError } from "../../common/errors.ts";
import type { Embedder, EmbedOptions } from "../ports.ts";
import { embedderPassThrough } from "./pass-through.ts";

/** Options of {@link createBatchingEmbedder}. */
export interface BatchingEmbedderOptions {
  /** Most inputs per model call. @default 16 (EMBEDDING_DEFAULTS.batchSize) */
  maxBatch?: number;
  /**
   * Longest time the oldest waiting input waits for a fuller batch after a model call, in ms. An
   * input arriving while the model is idle never waits. @default 2
   */
  maxWaitMs?: number;
  /**
   * Most inputs waiting (not yet in a model call). A call that would go past it is refused with
   * {@link QueueFullError}, except when the queue is empty (so one oversize call still runs). @default 8192
   */
  maxQueue?: number;
}

/** Counters of a {@link BatchingEmbedder}, for `/health` and metrics. */
export interface BatchingStats {
  /** Inputs waiting now. */
  queued: number;
  /** Queue capacity in inputs. */
  maxQueue: number;
  /** Model calls made. */
  batches: number;
  /** Inputs embedded. */
  inputs: number;
  /** Calls refused because the queue was full. */
  rejected: number;
  /** Mean inputs per model call (0 before the first). */
  meanBatch: number;
  /** Recent model throughput, inputs per second (exponential moving average; 0 before the first call). */
  inputsPerSecond: number;
}

/** The queue was full: the call was refused without doing any work (→ HTTP 429, `ResourceExhausted`). */
export class QueueFullError extends LimitExceededError {
  /** Suggested wait before retrying, in ms (≥ 1000, whole seconds). */
  readonly retryAfterMs: number;
  constructor(message: string, retryAfterMs: number) {
    super(message);
    this.retryAfterMs = retryAfterMs;
  }
}

/** An {@link Embedder} with a bounded, micro-batching queue and its counters. */
export interface BatchingEmbedder extends Embedder {
  /** Current counters. */
  stats(): BatchingStats;
}

interface Job {
  texts: string[];
  out: Float32Array[];
  left: number;
  done: boolean;
  resolve(v: Float32Array[]): void;
  reject(e: unknown): void;
}

interface Item {
  job: Job;
  index: number;
  at: number;
}

/**
 * Wraps `inner` with the queue. `countTokens`, `tokenizer` and `dispose` pass through.
 * @param inner - the model (e.g. {@link createTransformersEmbedder}).
 * @param options - batch size, wait and queue bound.
 */
export function createBatchingEmbedder(inner: Embedder, options: BatchingEmbedderOptions = {}): BatchingEmbedder {
  const maxBatch = Math.max(1, options.maxBatch ?? EMBEDDING_DEFAULTS.batchSize);
  const maxWaitMs = Math.max(0, options.maxWaitMs ?? EMBEDDING_DEFAULTS.maxWaitMs);
  const maxQueue = Math.max(1, options.maxQueue ?? EMBEDDING_DEFAULTS.maxQueue);
  let queue: Item[] = [];
  let head = 0;
  let running = false;
  let wake: (() => void) | undefined;
  let batches = 0;
  let inputs = 0;
  let rejected = 0;
  let rate = 0;

  const queued = () => queue.length - head;

  function fail(job: Job, err: unknown) {
    if (job.done) return;
    job.done = true;
    job.reject(err);
  }

  function take(): Item[] {
    const batch: Item[] = [];
    while (batch.length < maxBatch && head < queue.length) {
      const item = queue[head++]!;
      if (!item.job.done) batch.push(item);
    }
    if (head > 1024 && head * 2 > queue.length) {
      queue = queue.slice(head);
      head = 0;
    }
    return batch;
  }

  async function pump() {
    let idle = true; // the first call of a run starts at once: nothing is in the model to wait for
    try {
      while (queued() > 0) {
        const wait = queue[head]!.at + maxWaitMs - performance.now();
        if (!idle && queued() < maxBatch && wait > 0) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, wait);
            wake = () => {
              clearTimeout(timer);
              resolve();
            };
          });
          wake = undefined;
          continue;
        }
        idle = false;
        const batch = take();
        if (batch.length === 0) continue;
        const t0 = performance.now();
        try {
          const vectors = await inner.embed(batch.map((it) => it.job.texts[it.index]!));
          const seconds = Math.max(1e-6, (performance.now() - t0) / 1000);
          rate = rate === 0 ? batch.length / seconds : rate * 0.8 + (batch.length / seconds) * 0.2;
          batches++;
          inputs += batch.length;
          batch.forEach((it, j) => {
            const job = it.job;
            if (job.done) return;
            job.out[it.index] = vectors[j]!;
            if (--job.left === 0) {
              job.done = true;
              job.resolve(job.out);
            }
          });
        } catch (err) {
          for (const it of batch) fail(it.job, err);
        }
      }
    } finally {
      running = false;
    }
  }

  return {
    ...embedderPassThrough(inner),
    embed(texts: string[], opts: EmbedOptions = {}) {
      if (texts.length === 0) return Promise.resolve([]);
      if (opts.signal?.aborted) return Promise.reject(opts.signal.reason);
      const waiting = queued();
      if (waiting > 0 && waiting + texts.length > maxQueue) {
        rejected++;
        const seconds = Math.ceil((waiting + texts.length) / Math.max(rate, 1));
        return Promise.reject(
          new QueueFullError(
            `the embedding queue is full (${waiting} inputs waiting, capacity ${maxQueue}); retry in ${seconds} s`,
            Math.min(60, Math.max(1, seconds)) * 1000,
          ),
        );
      }
      return new Promise<Float32Array[]>((resolve, reject) => {
        const job: Job = { texts, out: new Array(texts.length), left: texts.length, done: false, resolve, reject };
        const at = performance.now();
        for (let i = 0; i < texts.length; i++) queue.push({ job, index: i, at });
        if (opts.signal) {
          const signal = opts.signal;
          const onAbort = () => fail(job, signal.reason);
          signal.addEventListener("abort", onAbort, { once: true });
          const clear = () => signal.removeEventListener("abort", onAbort);
          job.resolve = (v) => {
            clear();
            resolve(v);
          };
          job.reject = (e) => {
            clear();
            reject(e);
          };
        }
        if (queued() >= maxBatch) wake?.();
        if (!running) {
          // Started after the current synchronous turn, so inputs queued in the same turn (e.g.
          // `Promise.all` over many calls) share the first model call.
          running = true;
          queueMicrotask(() => void pump());
        }
      });
    },
    stats: () => ({
      queued: queued(),
      maxQueue,
      batches,
      inputs,
      rejected,
      meanBatch: batches ? inputs / batches : 0,
      inputsPerSecond: rate,
    }),
  };
}
