/** Builds SWM services for tests on either backend, with a real GLM when asked. */
import { afterAll } from "bun:test";
import { type Client, createClient, createRouterTransport, type Transport } from "@connectrpc/connect";
import { SharedWorkingMemoryService } from "../../../sdk/gen/dcsm/v1/swm_service_pb.ts";
import { createMemorySwmBackend, createRedisSwmBackend, type SwmBackend } from "../../../services/swm/backends.ts";
import type { SwmLimits } from "../../../services/swm/limits.ts";
import { createSwmService } from "../../../services/swm/service.ts";
import { testLimits } from "../../helpers/glm.ts";
import { redisPerFile } from "../../helpers/redis-per-file.ts";

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
  o: {
    redisUrl?: string;
    glm?: Transport;
    swmLimits?: Partial<SwmLimits>;
    indexedKeys?: string[];
    queuePath?: string;
    prefix?: string;
    eventHistory?: number;
    queueConsumer?: string;
  } = {},
): Promise<TestSwm> {
  const indexedKeys = o.indexedKeys ?? ["topic"];
  const backend =
    kind === "memory"
      ? createMemorySwmBackend({ indexedKeys, queuePath: o.queuePath, eventHistory: o.eventHistory })
      : await createRedisSwmBackend({
          url: o.redisUrl!,
          prefix: o.prefix ?? `svc${++prefixes}-${process.pid}:`,
          indexedKeys,
          eventHistory: o.eventHistory,
          queueConsumer: o.queueConsumer,
        });
  const impl = createSwmService({ ...backend, glm: o.glm, limits: testLimits(), swmLimits: o.swmLimits });
  const client = createClient(
    SharedWorkingMemoryService,
    createRouterTransport(({ service }) => service(SharedWorkingMemoryService, impl)),
  );
  return { client, backend, close: () => backend.close() };
}

/** What {@link swmPerFile} gives a test file. */
export interface SwmPerFile {
  /** URL of the file's Redis (inside tests only). */
  readonly redisUrl: string;
  /** {@link makeSwm} on the file's Redis; the instance is closed after the file's last test. */
  make(kind: Kind, o?: Parameters<typeof makeSwm>[1]): Promise<TestSwm>;
}

/**
 * The SWM setup several test files share: one Redis for the file (`redisPerFile`) and every SWM
 * made through `make` closed after the last test, before Redis stops (Bun runs `afterAll` hooks in
 * the order they are registered, so this one is registered first).
 */
export function swmPerFile(): SwmPerFile {
  const open: TestSwm[] = [];
  afterAll(async () => {
    for (const s of open.splice(0)) await s.close();
  });
  const redis = redisPerFile();
  return {
    get redisUrl() {
      return redis.server.url;
    },
    async make(kind, o = {}) {
      const s = await makeSwm(kind, { redisUrl: redis.server.url, ...o });
      open.push(s);
      return s;
    },
  };
}
