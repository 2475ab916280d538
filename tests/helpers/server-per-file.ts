/**
 * Test-file lifecycle of a real DCSM server (kept apart from `server.ts`, which code outside the
 * test runner may import).
 */
import { afterAll, beforeAll } from "bun:test";
import type { DcsmConfig } from "../../runtime/config.ts";
import { startTestServer } from "./server.ts";
import { removeTempDirs } from "./temp-dir.ts";

type TestServer = Awaited<ReturnType<typeof startTestServer>>;
type Overrides = Partial<Record<keyof DcsmConfig, unknown>>;

/**
 * One server for the test file (or `describe`) that calls this: started with `startTestServer`
 * before its first test and handed to `onStart`; closed, and the temporary folders removed, after
 * its last test.
 * @param onStart - receives the running server (typically `(s) => (server = s)`); awaited, so it
 *   may start what sits in front of the server (a proxy).
 * @param overrides - configuration overrides, or a function computing them when the server starts.
 */
export function serverPerFile(
  onStart: (server: TestServer) => unknown,
  overrides: Overrides | (() => Overrides) = {},
): void {
  let server: TestServer | undefined;
  beforeAll(async () => {
    server = await startTestServer(typeof overrides === "function" ? overrides() : overrides);
    await onStart(server);
  });
  afterAll(async () => {
    await server?.close();
    removeTempDirs();
  });
}
