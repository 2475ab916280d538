/**
 * Starts a real DCSM server for tests: both listeners on free ports, a fresh SQLite file in a
 * temporary folder, and the shared real model.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ApiKeyEntry } from "../../runtime/auth/authenticator.ts";
import { type DcsmConfig, loadConfig } from "../../runtime/config.ts";
import { type DcsmServer, startDcsmServer } from "../../runtime/server.ts";
import { testEmbedder } from "./model.ts";
import { tempDir } from "./temp-dir.ts";

/**
 * Starts a server on 127.0.0.1 with ports 0.
 * @param overrides - configuration overrides (e.g. smaller limits).
 */
export async function startTestServer(
  overrides: Partial<Record<keyof DcsmConfig, unknown>> = {},
): Promise<DcsmServer & { dataDir: string }> {
  const dataDir = tempDir("dcsm-server-");
  const config = loadConfig(
    {},
    { httpPort: 0, grpcPort: 0, dataDir, logLevel: "warn", modelOffline: true, warmup: "quick", ...overrides },
  );
  const server = await startDcsmServer(config, { embedder: await testEmbedder() });
  return Object.assign(server, { dataDir });
}

/**
 * Writes an API keys file (`DCSM_API_KEYS_FILE` format) in a fresh temporary folder.
 * @param keys - keys made by `newApiKey`; their `entry` (id, hash, scopes) is written.
 * @returns the file's path.
 */
export function apiKeysFile(keys: readonly { entry: ApiKeyEntry }[]): string {
  const path = join(tempDir("dcsm-keys-"), "keys.json");
  writeFileSync(path, JSON.stringify({ keys: keys.map((k) => k.entry) }));
  return path;
}
