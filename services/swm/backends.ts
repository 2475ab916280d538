/**
 * Assembles the SWM backends: in-process (working set on `IndexedLRUCache`, ring-buffer event log,
 * in-process locks and counters, SQLite write-behind queue) or Redis (everything shared through
 * one Redis). `runtime/` picks one from configuration.
 * @module
 */

import type { PersistQueue } from "../write-behind/ports.ts";
import { createRedisPersistQueue } from "../write-behind/redis-queue.ts";
import { createSqlitePersistQueue } from "../write-behind/sqlite-queue.ts";
import { createMemoryCounterStore, createMemoryLockStore } from "./coordination/memory.ts";
import { createRedisCounterStore, createRedisLockStore } from "./coordination/redis.ts";
import { createMemoryEventLog } from "./events/memory-event-log.ts";
import { createRedisEventLog } from "./events/redis-event-log.ts";
import type { CounterStore, EventLog, LockStore, WorkingSet } from "./ports.ts";
import { connectRedis } from "./redis/connection.ts";
import { createMemoryWorkingSet } from "./working-set/memory.ts";
import { createRedisWorkingSet } from "./working-set/redis.ts";

/** The SWM backends, ready for {@link createSwmService}. */
export interface SwmBackend {
  /** The working set (KEM cache with indexes). */
  workingSet: WorkingSet;
  /** The event log the working set appends to. */
  events: EventLog;
  /** Leased locks. */
  locks: LockStore;
  /** Counters. */
  counters: CounterStore;
  /** Durable write-behind queue (absent when not requested). */
  persistQueue?: PersistQueue;
  /** Closes everything (connections, files). */
  close(): Promise<void>;
}

/** Options shared by both backends. */
export interface SwmBackendOptions {
  /** Metadata keys to index (string values). @default [] */
  indexedKeys?: readonly string[];
  /** Events kept for resuming subscribers. @default 10000 */
  eventHistory?: number;
  /** Logger for warnings. */
  log?: { warn(obj: object, msg: string): void };
}

/** Options of {@link createMemorySwmBackend}. */
export interface MemorySwmBackendOptions extends SwmBackendOptions {
  /** Maximum cached KEMs. @default 100000 */
  maxEntries?: number;
  /** Byte budget of the in-process event history (oldest events dropped beyond). @default 64 MiB */
  eventHistoryBytes?: number;
  /** Optional bound on cached bytes. @default none */
  maxBytes?: number;
  /** Path of the SQLite write-behind queue; no queue when absent. */
  queuePath?: string;
  /** Claimed write-behind rows of a dead process come back after this long, ms. @default 30000 */
  claimIdleMs?: number;
}

/** Builds the in-process backend. */
export function createMemorySwmBackend(options: MemorySwmBackendOptions = {}): SwmBackend {
  const events = createMemoryEventLog({ historySize: options.eventHistory, historyBytes: options.eventHistoryBytes });
  const workingSet = createMemoryWorkingSet({
    events,
    maxEntries: options.maxEntries,
    maxBytes: options.maxBytes,
    indexedKeys: options.indexedKeys,
  });
  const persistQueue = options.queuePath
    ? createSqlitePersistQueue({ path: options.queuePath, claimIdleMs: options.claimIdleMs, log: options.log })
    : undefined;
  return {
    workingSet,
    events,
    locks: createMemoryLockStore(),
    counters: createMemoryCounterStore(),
    persistQueue,
    async close() {
      await events.close();
      await persistQueue?.close();
    },
  };
}

/** Options of {@link createRedisSwmBackend}. */
export interface RedisSwmBackendOptions extends SwmBackendOptions {
  /** Redis URL ("redis://[user:password@]host:port[/db]"). */
  url: string;
  /** Key prefix. @default "" */
  prefix?: string;
  /** TTL of cached KEMs after their last write, ms. @default 30 days */
  kemTtlMs?: number;
  /** Configure eviction and notifications with CONFIG SET. @default true */
  configure?: boolean;
  /** `maxmemory` to set when configuring ("256mb"). @default unchanged */
  maxmemory?: string;
  /** Create the write-behind queue with this consumer name; no queue when absent. */
  queueConsumer?: string;
  /** Pending write-behind entries idle this long are taken over, ms. @default 30000 */
  claimIdleMs?: number;
}

/**
 * Builds the Redis backend (one command connection plus one for notifications and one for the
 * event reader).
 * @throws BackendUnavailableError when Redis cannot be reached.
 */
export async function createRedisSwmBackend(options: RedisSwmBackendOptions): Promise<SwmBackend> {
  const redis = await connectRedis(options.url);
  try {
    const prefix = options.prefix ?? "";
    const persistQueue = options.queueConsumer
      ? await createRedisPersistQueue({
          redis,
          prefix,
          consumer: options.queueConsumer,
          claimIdleMs: options.claimIdleMs,
          log: options.log,
        })
      : undefined;
    const workingSet = await createRedisWorkingSet({
      redis,
      prefix,
      indexedKeys: options.indexedKeys,
      kemTtlMs: options.kemTtlMs,
      eventHistory: options.eventHistory,
      configure: options.configure,
      maxmemory: options.maxmemory,
      log: options.log,
      queue: persistQueue, // publishes with write-behind cache and queue the KEM in one script
    });
    const events = await createRedisEventLog({
      redis,
      prefix,
      load: (ids) => workingSet.load(ids),
      onReset: () => void workingSet.configure(),
      log: options.log,
    });
    void workingSet.repairAll().catch((err) => options.log?.warn({ err }, "start-up index repair failed"));
    return {
      workingSet,
      events,
      locks: createRedisLockStore(redis, prefix),
      counters: createRedisCounterStore(redis, prefix),
      persistQueue,
      async close() {
        await events.close();
        await workingSet.close();
        await persistQueue?.close();
        await redis.close();
      },
    };
  } catch (err) {
    await redis.close(true);
    throw err;
  }
}
