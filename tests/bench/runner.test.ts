/**
 * The bench runner's plumbing on its trivial self-test case (well under a second): `--json`
 * writes results with run metadata, `bench:compare` reads two of them, `bench:report` rewrites the
 * marked README section. The benches themselves are not tests and do not run here.
 */
import { afterAll, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { removeTempDirs, tempDir } from "../helpers/temp-dir.ts";

const ROOT = join(import.meta.dir, "../..");
afterAll(() => removeTempDirs());

async function bun(...args: string[]) {
  const p = Bun.spawn([process.execPath, ...args], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
  return { code: await p.exited, out, err };
}

test("bench --json, bench:compare and bench:report on the self-test case", async () => {
  const dir = tempDir("dcsm-bench-test-");
  const a = join(dir, "a.json");
  const b = join(dir, "b.json");
  for (const f of [a, b]) {
    const r = await bun("bench/run.ts", "^bench\\.selftest$", "--repeats", "2", "--json", f);
    expect(r.code, r.err).toBe(0);
  }
  const doc = JSON.parse(readFileSync(a, "utf8"));
  expect(doc.bun).toBe(Bun.version);
  expect(doc.commit).toBeTruthy();
  expect(doc.results.map((r: { case: string }) => r.case)).toEqual([
    "bench.selftest/noop",
    "bench.selftest/noop-async",
  ]);
  const cand = doc.results[1];
  expect(cand.n).toBe(2000);
  expect(cand.runs).toHaveLength(2);
  expect(cand.baseline).toBe("bench.selftest/noop");
  expect(cand.ratio).toBeGreaterThan(0);
  expect(cand.p99Ms).toBeGreaterThanOrEqual(cand.p50Ms);

  const cmp = await bun("bench/compare.ts", a, b, "--threshold", "100");
  expect(cmp.code, cmp.out + cmp.err).toBe(0);
  expect(cmp.out).toContain("bench.selftest/noop-async");
  expect(cmp.out).toContain("0 regressions");

  const readme = join(dir, "README.md");
  writeFileSync(readme, "# x\n<!-- bench:results:start -->\nold\n<!-- bench:results:end -->\ntail\n");
  const rep = await bun("bench/report.ts", a, "--readme", readme);
  expect(rep.code, rep.err).toBe(0);
  const text = readFileSync(readme, "utf8");
  expect(text).not.toContain("old");
  expect(text).toContain("| bench.selftest/noop-async |");
  expect(text.endsWith("<!-- bench:results:end -->\ntail\n")).toBe(true);
});
