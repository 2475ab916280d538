#!/usr/bin/env bun
/**
 * The full memory soak: 20,000 `/v1/embeddings` requests of mixed sizes from 32
 * concurrent clients against `dcsm serve` in a child process; fails (exit 1) when the server's RSS
 * after the soak is more than 15% above its RSS after warm-up, or when any request fails with
 * anything but a 429. Run with `npm run test:soak` (takes minutes on 2 cores).
 *
 * Environment: SOAK_REQUESTS (20000), SOAK_CLIENTS (32), plus any DCSM_* for the server.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { formatSoak, runSoak } from "./soak-runner.ts";

const dataDir = mkdtempSync(join(tmpdir(), "dcsm-soak-"));
try {
  const report = await runSoak({
    dataDir,
    requests: Number(process.env.SOAK_REQUESTS ?? 20000),
    clients: Number(process.env.SOAK_CLIENTS ?? 32),
    onProgress: (done, total) => process.stderr.write(`soak: ${done}/${total}\n`),
  });
  process.stdout.write(`${formatSoak(report)}\n`);
  const failed = Object.entries(report.statuses).filter(([s]) => s !== "200" && s !== "429");
  if (report.ratio > 1.15 || failed.length > 0 || report.networkErrors > 0) {
    process.stdout.write("FAIL: RSS grew more than 15% or requests failed\n");
    process.exitCode = 1;
  } else process.stdout.write("PASS\n");
} finally {
  rmSync(dataDir, { recursive: true, force: true });
}
