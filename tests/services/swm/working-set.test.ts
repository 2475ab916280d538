import { afterAll, beforeAll } from "bun:test";
import { createMemorySwmBackend, createRedisSwmBackend } from "../../../services/swm/backends.ts";
import { startRedis, type TestRedis } from "../../helpers/redis-server.ts";
import { workingSetContract } from "./working-set-contract.ts";

let redis: TestRedis;
let n = 0;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis.stop();
});

workingSetContract("in-process (IndexedLRUCache)", async (o) =>
  createMemorySwmBackend({ indexedKeys: o.indexedKeys, eventHistory: o.eventHistory }),
);
workingSetContract("redis", async (o) =>
  createRedisSwmBackend({
    url: redis.url,
    prefix: `t${++n}:`,
    indexedKeys: o.indexedKeys,
    eventHistory: o.eventHistory,
  }),
);
