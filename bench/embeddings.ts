#!/usr/bin/env bun
/**
 * Standalone run of the embeddings case (`npm run bench:embeddings`): `/v1/embeddings` against the
 * raw transformers.js pipeline, exit code 1 when below the target (≥ 90%, bench/README.md). The same case
 * runs in the suite as `kps.embeddings` (`bun run bench -- kps.embeddings`).
 *
 * Environment: BENCH_SENTENCES (640 here), BENCH_BATCH (32), BENCH_REPEATS (3), BENCH_CLIENTS (2),
 * plus DCSM_MODEL / DCSM_MODEL_DIR / DCSM_MODEL_DTYPE for the model.
 * @module
 */
import { benchEmbeddings } from "./cases/embeddings.ts";
import { closeFixtures } from "./lib/fixtures.ts";
import { formatResult } from "./lib/stats.ts";

try {
  const results = await benchEmbeddings({ sentences: Number(process.env.BENCH_SENTENCES ?? 640) });
  for (const r of results) console.log(formatResult(r));
  const ratio = results[1]!.ratio!;
  console.log(`ratio http/raw ${(ratio * 100).toFixed(1)}% (target ≥ 90%) ${ratio >= 0.9 ? "PASS" : "FAIL"}`);
  process.exitCode = ratio >= 0.9 ? 0 : 1;
} finally {
  await closeFixtures();
}
