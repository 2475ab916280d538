/**
 * DCSM SDK entry point (browser-safe: no `node:` or `bun:` imports).
 *
 * For now it exports the generated contracts — service descriptors for `createClient` from
 * `@connectrpc/connect`, message schemas and types — and a helper that makes typed clients of all
 * three services on one transport. The Agent SDK proper (local agent memory, event handling,
 * locks) builds on these.
 * @module
 */
import { createClient, type Client, type Transport } from "@connectrpc/connect";
import { GlobalLongTermMemoryService } from "./gen/dcsm/v1/glm_service_pb.ts";
import { KnowledgeProcessorService } from "./gen/dcsm/v1/kps_service_pb.ts";
import { SharedWorkingMemoryService } from "./gen/dcsm/v1/swm_service_pb.ts";

export * from "./gen/dcsm/v1/kem_pb.ts";
export * from "./gen/dcsm/v1/glm_service_pb.ts";
export * from "./gen/dcsm/v1/kps_service_pb.ts";
export * from "./gen/dcsm/v1/swm_service_pb.ts";

/** Typed clients of the three DCSM services sharing one transport. */
export interface DcsmServiceClients {
  /** Global long-term memory (seed 002 3.2). */
  glm: Client<typeof GlobalLongTermMemoryService>;
  /** Knowledge processing (seed 002 3.3). */
  kps: Client<typeof KnowledgeProcessorService>;
  /** Shared working memory (seed 002 3.4). */
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
