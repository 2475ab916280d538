/**
 * DCSM Agent SDK, browser-safe entry (no `node:` or `bun:` imports; runs in browsers, Deno, Bun
 * and Node over Connect or gRPC-Web). `createAgentSDK` gives an agent typed GLM, SWM and KPS
 * clients with retries, its local memory (LPA) kept coherent by SWM events, distributed locks and
 * counters (docs/architecture.md, docs/consistency.md). Also exported: the generated contracts
 * (service descriptors, message schemas and types). gRPC over HTTP/2 is in `sdk/server.ts`.
 * @module
 */
import { type Client, createClient, type Transport } from "@connectrpc/connect";
import { GlobalLongTermMemoryService } from "./gen/dcsm/v1/glm_service_pb.ts";
import { KnowledgeProcessorService } from "./gen/dcsm/v1/kps_service_pb.ts";
import { SharedWorkingMemoryService } from "./gen/dcsm/v1/swm_service_pb.ts";

export {
  type AgentProtocol,
  AgentSDK,
  type AgentSDKOptions,
  type BatchOutcome,
  type CallOptions,
  createAgentSDK,
  createFetchTransport,
} from "./agent-sdk.ts";
export { bearerAuth } from "./auth.ts";
export { codeFromName, codeName } from "./code-names.ts";
export { asyncDispose, type HeldLock, type LockOptions } from "./distributed-lock.ts";
export * from "./gen/dcsm/v1/glm_service_pb.ts";
export * from "./gen/dcsm/v1/kem_pb.ts";
export * from "./gen/dcsm/v1/kps_service_pb.ts";
export * from "./gen/dcsm/v1/swm_service_pb.ts";
export { IndexedLRUCache, type IndexedLRUCacheOptions } from "./indexed-lru-cache.ts";
export {
  type KemInput,
  type KemPatch,
  type KemQueryInput,
  kemInit,
  kemQueryInit,
  kemText,
  type SearchModeName,
  searchModeOf,
} from "./kem-input.ts";
export {
  compareTimestamps,
  LocalAgentMemory,
  type LocalAgentMemoryOptions,
  type LocalAgentMemoryStats,
  type LocalQuery,
} from "./local-agent-memory.ts";
export { formatLpaMetrics } from "./lpa-metrics.ts";
export {
  DEFAULT_RETRY,
  isIdempotent,
  isRetryable,
  normalizeNetworkError,
  RETRYABLE_CODES,
  type RetryOptions,
  withRetries,
} from "./retry.ts";
export {
  applyEventToLpa,
  type HandleSwmEventsOptions,
  reloadLocalMemory,
  type SwmEventFilter,
  type SwmEventSubscription,
} from "./swm-events.ts";

/** Typed clients of the three DCSM services sharing one transport. */
export interface DcsmServiceClients {
  /** Global long-term memory. */
  glm: Client<typeof GlobalLongTermMemoryService>;
  /** Knowledge processing. */
  kps: Client<typeof KnowledgeProcessorService>;
  /** Shared working memory. */
  swm: Client<typeof SharedWorkingMemoryService>;
}

/**
 * Creates GLM, KPS and SWM clients on one transport — `createConnectTransport` or
 * `createGrpcWebTransport` from `@connectrpc/connect-web` in browsers, `createGrpcTransport` from
 * `@connectrpc/connect-node` on servers. Errors surface as `ConnectError` with the server's `Code`.
 * @param transport - any Connect transport.
 */
export function createDcsmServiceClients(transport: Transport): DcsmServiceClients {
  return {
    glm: createClient(GlobalLongTermMemoryService, transport),
    kps: createClient(KnowledgeProcessorService, transport),
    swm: createClient(SharedWorkingMemoryService, transport),
  };
}
