/**
 * The real embedding model for tests, loaded once per test process from the committed
 * `models/` folder (downloads disabled: tests must work offline).
 */
import { loadConfig } from "../../runtime/config.ts";
import { loadEmbedder } from "../../runtime/server.ts";
import type { Embedder } from "../../services/kps/ports.ts";

let shared: Promise<Embedder> | undefined;

/** The shared model instance (all-MiniLM-L6-v2 q8 unless DCSM_MODEL says otherwise). */
export function testEmbedder(): Promise<Embedder> {
  shared ??= loadEmbedder(loadConfig(process.env, { modelOffline: true, dataDir: "/tmp/dcsm-test-model-cache" }));
  return shared;
}
