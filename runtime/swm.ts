/**
 * Builds SWM from configuration: the in-process backend by default (durable write-behind queue in
 * `<dataDir>/swm-queue.sqlite`), Redis when `REDIS_URL` is set; the service; and the write-behind
 * worker that drains the queue into GLM through `glm` (in-process router or remote Connect).
 * @module
 */
import { join } from "node:path";
import { createClient, type ServiceImpl, type Transport } from "@connectrpc/connect";
import { GlobalLongTermMemoryService } from "../sdk/gen/dcsm/v1/glm_service_pb.ts";
import type { SharedWorkingMemoryService } from "../sdk/gen/dcsm/v1/swm_service_pb.ts";
import { NAMESPACE_KEY } from "../services/common/access.ts";
import type { KemLimits } from "../services/common/limits.ts";
import type { KemStore } from "../services/glm/ports.ts";
import { createMemorySwmBackend, createRedisSwmBackend, type SwmBackend } from "../services/swm/backends.ts";
import { createSwmService } from "../services/swm/service.ts";
import { countLookups } from "../services/swm/working-set/lookup-stats.ts";
import { createRepositoryGlmWriter, type KemBatchRepository } from "../services/write-behind/glm-writer.ts";
import { createWriteBehindWorker, type WriteBehindStats } from "../services/write-behind/worker.ts";
import type { DcsmConfig } from "./config.ts";
import type { Logger } from "./logger.ts";

/** GLM's repository when GLM runs in this process: batches are written through it, ownership read from its store. */
export type InProcessGlm = KemBatchRepository & { readonly store: Pick<KemStore, "getMany"> };

/** A built SWM: the service, its backend, and the write-behind worker. */
export interface SwmRuntime {
  /** The service implementation to mount. */
  service: ServiceImpl<typeof SharedWorkingMemoryService>;
  /** The backend (for tests and metrics). */
  backend: SwmBackend;
  /** Write-behind queue depth, oldest entry age (ms) and worker counters (for /metrics). */
  writeBehindStats(): Promise<WriteBehindStats>;
  /** Stops the worker (queued writes stay durable) and closes the backend. */
  close(): Promise<void>;
}

/**
 * Builds SWM.
 * @param config - validated configuration.
 * @param deps - GLM transport for LoadKEMsFromGLM and write-behind, GLM's repository when GLM runs
 *   in this process (write-behind then stores through it, without serialising), KEM limits,
 *   logger, data folder.
 * @throws BackendUnavailableError when `REDIS_URL` is set and Redis cannot be reached.
 */
export async function buildSwm(
  config: DcsmConfig,
  deps: { glm: Transport; repository?: InProcessGlm; limits: KemLimits; log: Logger; dataDir: string },
): Promise<SwmRuntime> {
  const { log } = deps;
  // `namespace` is always indexed: scoped queries pin it, and evicted/deleted events must carry it (docs/security.md).
  const indexedKeys = [...new Set([...config.swmIndexedKeys, NAMESPACE_KEY])];
  const backend = config.redisUrl
    ? await createRedisSwmBackend({
        url: config.redisUrl,
        prefix: config.swmRedisPrefix,
        indexedKeys,
        eventHistory: config.swmEventHistory,
        kemTtlMs: config.swmKemTtlMs,
        maxmemory: config.swmRedisMaxmemory || undefined,
        queueConsumer: config.swmWorkerName,
        claimIdleMs: config.swmClaimIdleMs,
        log,
      })
    : createMemorySwmBackend({
        indexedKeys,
        eventHistory: config.swmEventHistory,
        eventHistoryBytes: config.swmEventHistoryBytes,
        maxEntries: config.swmMaxEntries,
        maxBytes: config.swmMaxBytes || undefined,
        queuePath: join(deps.dataDir, "swm-queue.sqlite"),
        claimIdleMs: config.swmClaimIdleMs,
        log,
      });
  backend.workingSet = countLookups(backend.workingSet); // QuerySWM-by-ids hit/miss counters for /metrics
  const worker = createWriteBehindWorker({
    queue: backend.persistQueue!,
    glm: deps.repository ? createRepositoryGlmWriter(deps.repository, deps.limits) : deps.glm,
    workingSet: backend.workingSet,
    batchSize: Math.min(config.swmWriteBehindBatch, deps.limits.maxBatchSize),
    maxDelayMs: config.swmWriteBehindDelayMs,
    log,
    // In process the namespaces come from GLM's store (an index lookup per id), not from a
    // RetrieveKEMs call that would encode and decode whole KEMs, embeddings included.
    ownershipConflicts: glmOwnershipConflicts(
      deps.repository
        ? storeNamespaceLookup(deps.repository.store)
        : glmNamespaceLookup(deps.glm, deps.limits.maxPageSize),
    ),
  });
  const service = createSwmService({
    ...backend,
    onEnqueued: () => worker.notify(),
    glm: deps.glm,
    limits: deps.limits,
    swmLimits: {
      heartbeatMs: config.swmHeartbeatMs,
      maxSubscribers: config.swmMaxSubscribers,
      maxSubscribersPerPrincipal: config.swmMaxSubscribersPerPrincipal,
      subscriberBuffer: config.swmSubscriberBuffer,
    },
  });
  log.info({ backend: config.redisUrl ? "redis" : "in-process", indexedKeys }, "SWM ready");
  return {
    service,
    backend,
    writeBehindStats: () => worker.stats(),
    async close() {
      await worker.stop();
      await backend.close();
    },
  };
}

/** `metadata.namespace` when it is a string. */
function namespaceOf(metadata: { [key: string]: unknown } | undefined): string | undefined {
  const v = metadata?.[NAMESPACE_KEY];
  return typeof v === "string" ? v : undefined;
}

/**
 * The write-behind ownership re-check: a queued KEM whose id GLM holds in another namespace is not
 * written (write-behind never moves a GLM KEM between namespaces; the publish-time check can be
 * raced by a GLM write of the same id).
 */
function glmOwnershipConflicts(
  lookup: (ids: string[]) => Promise<Map<string, string | undefined>>,
): (records: { id: string; metadata?: { [key: string]: unknown } }[]) => Promise<Map<string, string>> {
  return async (records) => {
    const inGlm = await lookup([...new Set(records.map((r) => r.id))]);
    const out = new Map<string, string>();
    for (const r of records) {
      if (!inGlm.has(r.id)) continue;
      const glmNs = inGlm.get(r.id);
      const mine = namespaceOf(r.metadata);
      if (glmNs !== mine)
        out.set(
          r.id,
          `GLM holds ${r.id} in ${glmNs === undefined ? "no namespace" : `namespace ${glmNs}`}, the queued KEM is in ${mine === undefined ? "no namespace" : `namespace ${mine}`}`,
        );
    }
    return out;
  };
}

/**
 * Namespaces of GLM KEMs by id, asked over `glmTransport` (RetrieveKEMs by ids, every page).
 * @param maxPageSize - GLM's largest page (ids are asked in chunks of at most this many, ≤ 1000).
 */
export function glmNamespaceLookup(
  glmTransport: Transport,
  maxPageSize: number,
): (ids: string[]) => Promise<Map<string, string | undefined>> {
  const glm = createClient(GlobalLongTermMemoryService, glmTransport);
  const chunk = Math.max(1, Math.min(1000, maxPageSize));
  return async (ids) => {
    const out = new Map<string, string | undefined>();
    for (let i = 0; i < ids.length; i += chunk) {
      const part = ids.slice(i, i + chunk);
      let pageToken = "";
      do {
        const page = await glm.retrieveKEMs({ query: { ids: part }, pageSize: part.length, pageToken });
        for (const k of page.kems) out.set(k.id, namespaceOf(k.metadata));
        pageToken = page.nextPageToken;
      } while (pageToken);
    }
    return out;
  };
}

/**
 * Namespaces of GLM KEMs by id, read from GLM's store in this process (ids GLM does not hold are
 * absent from the map; a KEM without a namespace maps to undefined).
 * @param store - GLM's store.
 */
export function storeNamespaceLookup(
  store: Pick<KemStore, "getMany">,
): (ids: string[]) => Promise<Map<string, string | undefined>> {
  return async (ids) => new Map((await store.getMany(ids)).map((r) => [r.id, namespaceOf(r.metadata)]));
}
