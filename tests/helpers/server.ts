/**
 * Starts a real DCSM server for tests: both listeners on free ports, a fresh SQLite file in a
 * temporary folder, and the shared real model.
 */
import { loadConfig, type DcsmConfig } from "../../runtime/config.ts";
import { startDcsmServer, type DcsmServer } from "../../runtime/server.ts";
import { testEmbedder } from "./model.ts";
import { tempDir } from "./temp-dir.ts";

/**
 * Starts a server on 127.0.0.1 with ports 0.
 * @param overrides - configuration overrides (e.g. smaller limits).
 */
export async function startTestServer(overrides: Partial<Record<keyof DcsmConfig, unknown>> = {}): Promise<DcsmServer & { dataDir: string }> {
  const dataDir = tempDir("dcsm-server-");
  const config = loadConfig({}, { httpPort: 0, grpcPort: 0, dataDir, logLevel: "warn", modelOffline: true, warmup: "quick", ...overrides });
  const server = await startDcsmServer(config, { embedder: await testEmbedder() });
  return Object.assign(server, { dataDir });
}
