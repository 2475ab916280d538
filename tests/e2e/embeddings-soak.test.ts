/**
 * Reduced memory soak inside the normal suite: 300 mixed `/v1/embeddings` requests from
 * 32 concurrent clients against `dcsm serve` in a child process; RSS after must stay within 15% of
 * RSS after warm-up, and every request must succeed or get a 429. The full 20,000-request run is
 * `npm run test:soak` (tests/soak/embeddings-soak.ts).
 */
import { afterAll, expect, test } from "bun:test";
import { removeTempDirs, tempDir } from "../helpers/temp-dir.ts";
import { formatSoak, runSoak } from "../soak/soak-runner.ts";

afterAll(removeTempDirs);

test("300 mixed requests from 32 clients leave RSS within 15% of its post-warm-up value", async () => {
  const report = await runSoak({ dataDir: tempDir("dcsm-soak-"), requests: 300, clients: 32 });
  console.log(formatSoak(report));
  expect(report.networkErrors).toBe(0);
  expect(Object.keys(report.statuses).filter((s) => s !== "200" && s !== "429")).toEqual([]);
  expect(report.statuses[200]).toBeGreaterThan(0);
  expect(report.ratio).toBeLessThanOrEqual(1.15);
}, 180_000);
