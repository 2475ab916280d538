import { describe, expect, test } from "bun:test";
import { ConfigError, loadConfig } from "../../runtime/config.ts";

describe("SWM configuration", () => {
  test("defaults: in-process working set, no indexed keys, bounded entries and history", () => {
    const c = loadConfig({});
    expect([
      c.redisUrl,
      c.swmIndexedKeys,
      c.swmMaxEntries,
      c.swmEventHistory,
      c.swmHeartbeatMs,
      c.swmWriteBehindBatch,
    ]).toEqual(["", [], 100_000, 10_000, 15_000, 100]);
  });

  test("REDIS_URL and DCSM_SWM_* are read from the environment", () => {
    const c = loadConfig({
      REDIS_URL: "redis://10.0.0.5:6380/2",
      DCSM_SWM_INDEXED_KEYS: " topic, source ,,project_id",
      DCSM_SWM_MAX_ENTRIES: "5000",
      DCSM_SWM_REDIS_MAXMEMORY: "512mb",
      DCSM_SWM_HEARTBEAT_MS: "2000",
      DCSM_SWM_CLAIM_IDLE_MS: "1000",
    });
    expect(c.redisUrl).toBe("redis://10.0.0.5:6380/2");
    expect(c.swmIndexedKeys).toEqual(["topic", "source", "project_id"]);
    expect([c.swmMaxEntries, c.swmRedisMaxmemory, c.swmHeartbeatMs, c.swmClaimIdleMs]).toEqual([
      5000,
      "512mb",
      2000,
      1000,
    ]);
  });

  test("bad values fail with the variable named", () => {
    for (const [name, value] of [
      ["REDIS_URL", "http://x"],
      ["DCSM_SWM_INDEXED_KEYS", "ok,has space"],
      ["DCSM_SWM_MAX_ENTRIES", "0"],
      ["DCSM_SWM_REDIS_MAXMEMORY", "lots"],
      ["DCSM_SWM_HEARTBEAT_MS", "10"],
    ] as const) {
      expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
      expect(() => loadConfig({ [name]: value })).toThrow(name);
    }
  });
});
