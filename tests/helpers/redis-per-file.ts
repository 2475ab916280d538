/**
 * Test-file lifecycle of a real Redis (kept apart from `redis-server.ts`, which the bench suite
 * imports outside the test runner).
 */
import { afterAll, beforeAll } from "bun:test";
import { startRedis, type TestRedis } from "./redis-server.ts";
import { removeTempDirs } from "./temp-dir.ts";

/**
 * One `redis-server` for the test file that calls this at its top level: started before its first
 * test, stopped (and the temporary folders removed) after its last.
 * @returns a holder whose `server` is the running Redis once the tests run (call it at the top of
 *   a file or inside a `describe`).
 */
export function redisPerFile(): { readonly server: TestRedis } {
  let server: TestRedis | undefined;
  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    await server?.stop();
    removeTempDirs();
  });
  return {
    get server(): TestRedis {
      if (!server) throw new Error("redisPerFile: Redis is only available inside tests");
      return server;
    },
  };
}
