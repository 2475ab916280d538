/** Builds SWM services for tests on either backend, with a real GLM when asked. */
import { createClient, createRouterTransport, type Client, type Transport } from "@connectrpc/connect";
import { SharedWorkingMemoryService } from "../../../sdk/gen/dcsm/v1/swm_service_pb.ts";
import { createMemorySwmBackend, createRedisSwmBackend, type SwmBackend } from "../../../services/swm/backends.ts";
import type { SwmLimits } from "../../../services/swm/limits.ts";
import { createSwmService } from "../../../services/swm/service.ts";
import { testLimits } from "../../helpers/glm.ts";

/** Backend kinds under test. */
export type Kind = "memory" | "redis";

/** A test SWM: client, backend, close. */
export interface TestSwm {
  client: Client<typeof SharedWorkingMemoryService>;
  backend: SwmBackend;
  close(): Promise<void>;
}

let prefixes = 0;

/**
 * Creates an SWM service on a fresh backend (a new key prefix on Redis).
 * @param kind - backend.
 * @param o - Redis URL (for "redis"), GLM transport, limits, indexed keys, queue path, shared prefix.
 */
export async function makeSwm(
  kind: Kind,
  o: { redisUrl?: string; glm?: Transport; swmLimits?: Partial<SwmLimits>; indexedKeys?: string[]; queuePath?: string; prefix?: string; eventHistory?: number; queueConsumer?: string } = {},
): Promise<TestSwm> {
  const indexedKeys = o.indexedKeys ?? ["topic"];
  const backend =
    kind === "memory"
      ? createMemorySwmBackend({ indexedKeys, queuePath: o.queuePath, eventHistory: o.eventHistory })
      : await createRedisSwmBackend({ url: o.redisUrl!, prefix: o.prefix ?? `svc${++prefixes}-${process.pid}:`, indexedKeys, eventHistory: o.eventHistory, queueConsumer: o.queueConsumer });
  const impl = createSwmService({ ...backend, glm: o.glm, limits: testLimits(), swmLimits: o.swmLimits });
  const client = createClient(SharedWorkingMemoryService, createRouterTransport(({ service }) => service(SharedWorkingMemoryService, impl)));
  return { client, backend, close: () => backend.close() };
}
