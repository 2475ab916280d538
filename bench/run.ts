/**
 * Bench suite entry point: `bun run bench [-- <regex>] [--large] [--json out.json]`.
 * Runs every case whose name matches the regex (all by default) and prints one line per result;
 * `--large` adds the 1M-vector search case; `--json` writes machine-readable results with the
 * runtime versions and commit.
 * @module
 */
import { execSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { parseArgs } from "node:util";
import { benchBatchStore } from "./cases/glm-batch-store.ts";
import { benchVectorSearch } from "./cases/glm-vector-search.ts";
import { formatResult, type BenchResult } from "./lib/stats.ts";

/** A named bench case. */
interface BenchCase {
  name: string;
  large?: boolean;
  run: () => Promise<BenchResult[]>;
}

const CASES: BenchCase[] = [
  { name: "glm.batch-store/100", run: () => benchBatchStore(100, 100) },
  { name: "glm.batch-store/1000", run: () => benchBatchStore(1000, 10) },
  { name: "glm.search/10k", run: () => benchVectorSearch(10_000, 200) },
  { name: "glm.search/100k", run: () => benchVectorSearch(100_000, 200) },
  { name: "glm.search/1m", large: true, run: () => benchVectorSearch(1_000_000, 200) },
];

const { values, positionals } = parseArgs({ allowPositionals: true, options: { large: { type: "boolean" }, json: { type: "string" } } });
const filter = positionals[0] ? new RegExp(positionals[0]) : undefined;
const selected = CASES.filter((c) => (!c.large || values.large) && (!filter || filter.test(c.name)));
if (selected.length === 0) {
  console.error(`no bench case matches ${filter}; cases: ${CASES.map((c) => c.name).join(", ")}`);
  process.exit(2);
}
const commit = (() => {
  try {
    return execSync("git rev-parse --short HEAD", { encoding: "utf8" }).trim();
  } catch {
    return "unknown";
  }
})();
const machine = `${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, ${Math.round(totalmem() / 2 ** 30)} GiB`;
console.log(`DCSM bench — bun ${Bun.version}, ${machine}, commit ${commit}`);
const results: BenchResult[] = [];
for (const c of selected) {
  for (const r of await c.run()) {
    results.push(r);
    console.log(formatResult(r));
  }
}
if (values.json) {
  writeFileSync(values.json, JSON.stringify({ date: new Date().toISOString(), bun: Bun.version, machine, commit, results }, null, 2));
  console.log(`wrote ${values.json}`);
}
