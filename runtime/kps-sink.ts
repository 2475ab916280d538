/**
 * Builds KPS's link to GLM from configuration, behind group commit (concurrent documents share GLM
 * batch calls): in one process a plain retrying sink (GLM cannot be
 * unreachable); with a remote GLM (`DCSM_GLM_URL`) a durable sink whose outbox is a SQLite file in
 * the data folder (`kps-outbox.sqlite`, the write-behind queue SWM uses) drained into GLM by a
 * write-behind worker (KPS keeps embedded chunks queued while GLM is down; docs/consistency.md).
 * @module
 */
import { join } from "node:path";
import type { Transport } from "@connectrpc/connect";
import { createDurableKemSink } from "../services/kps/durable-sink.ts";
import { createGlmSink } from "../services/kps/glm-sink.ts";
import { createGroupCommitSink } from "../services/kps/group-commit-sink.ts";
import type { KemSink } from "../services/kps/ports.ts";
import { createSqlitePersistQueue } from "../services/write-behind/sqlite-queue.ts";
import { createWriteBehindWorker, type WriteBehindStats } from "../services/write-behind/worker.ts";
import type { DcsmConfig } from "./config.ts";
import type { Logger } from "./logger.ts";

/** KPS's sink plus its outbox worker, when there is one. */
export interface KpsSinkRuntime {
  /** The sink to hand to `createKpsService`. */
  sink: KemSink;
  /** Outbox depth, oldest entry age (ms) and worker counters; undefined without an outbox. */
  outboxStats(): Promise<WriteBehindStats | undefined>;
  /** Stops the worker (queued chunks stay in the file for the next start) and closes the file. */
  close(): Promise<void>;
}

/**
 * Builds the sink.
 * @param config - validated configuration (`glmUrl`, `dataDir`, write-behind batch and delay).
 * @param deps - GLM transport, GLM batch limit, logger, resolved data folder.
 */
export function buildKpsSink(
  config: DcsmConfig,
  deps: { glm: Transport; maxBatchSize: number; log: Logger; dataDir: string },
): KpsSinkRuntime {
  const inner = createGlmSink({ transport: deps.glm });
  // Concurrent documents share GLM BatchStoreKEMs calls (one storage transaction for many documents).
  const grouped = (sink: KemSink) => createGroupCommitSink({ inner: sink, maxBatchSize: deps.maxBatchSize });
  if (!config.glmUrl) return { sink: grouped(inner), outboxStats: async () => undefined, close: async () => {} };
  const queue = createSqlitePersistQueue({
    path: join(deps.dataDir, "kps-outbox.sqlite"),
    claimIdleMs: config.swmClaimIdleMs,
    log: deps.log,
  });
  const worker = createWriteBehindWorker({
    queue,
    glm: deps.glm,
    batchSize: Math.min(config.swmWriteBehindBatch, deps.maxBatchSize),
    maxDelayMs: config.swmWriteBehindDelayMs,
    log: deps.log,
  });
  return {
    sink: grouped(createDurableKemSink({ inner, queue, onEnqueued: () => worker.notify(), log: deps.log })),
    outboxStats: () => worker.stats(),
    async close() {
      await worker.stop();
      await queue.close();
    },
  };
}
