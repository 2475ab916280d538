/**
 * Port of the durable write-behind queues (docs/consistency.md "Write-behind"): SWM queues the KEMs
 * it publishes with persistence, KPS queues its results for a remote GLM, and a worker
 * (`worker.ts`) drains either into GLM. Backends: `sqlite-queue.ts` (in process) and
 * `redis-queue.ts` (a Redis stream shared by several processes).
 * @module
 */
import type { KemRecord } from "../common/kem-record.ts";

/** One queued write-behind item. */
export interface QueuedKem {
  /** Queue-assigned handle used by `ack`. */
  handle: string;
  /** Idempotency key sent to GLM (one per enqueue, stable across retries and restarts). */
  idempotencyKey: string;
  /** The KEM to store (as cached when queued). */
  record: KemRecord;
  /** When it was queued, ms since epoch. */
  enqueuedAtMs: number;
}

/** Depth and age of the write-behind queue (for metrics). */
export interface QueueStats {
  /** Entries not yet acknowledged (claimed or not). */
  depth: number;
  /** Age of the oldest entry in ms; 0 when empty. */
  oldestAgeMs: number;
}

/**
 * Durable queue of KEMs waiting for write-behind to GLM (docs/consistency.md). Entries survive a crash
 * of the process (kill -9) and are delivered at least once; GLM's idempotency keys make the
 * effect exactly once.
 */
export interface PersistQueue {
  /**
   * Appends records durably (the call returns after the write is durable). The caller does not
   * change the records afterwards: a queue may hand the same objects to its own claims.
   */
  enqueue(records: KemRecord[]): Promise<void>;
  /**
   * Up to `max` oldest entries for this worker to send. Entries stay queued until acknowledged;
   * entries claimed by a dead worker come back after the backend's claim timeout.
   */
  claim(max: number): Promise<QueuedKem[]>;
  /** Removes sent entries. */
  ack(handles: string[]): Promise<void>;
  /** Depth and oldest age. */
  stats(): Promise<QueueStats>;
  /** Closes the queue. */
  close(): Promise<void>;
}
