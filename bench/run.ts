/**
 * Bench suite entry point: `bun run bench [-- <regex>] [--large] [--json out.json] [--repeats N] [--list]`.
 * Runs every case group whose name (or one of whose result names) matches the regex (all by
 * default) and prints one line per result; `--large` adds the 1M-vector search case; `--json`
 * writes machine-readable results with the runtime versions, machine, load and commit.
 * @module
 */
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { CASES } from "./cases/index.ts";
import { closeFixtures } from "./lib/fixtures.ts";
import { runInfo } from "./lib/run-info.ts";
import { type BenchResult, formatResult } from "./lib/stats.ts";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    large: { type: "boolean" },
    json: { type: "string" },
    repeats: { type: "string" },
    list: { type: "boolean" },
  },
});
if (values.repeats) process.env.BENCH_REPEATS = values.repeats;
const filter = positionals[0] ? new RegExp(positionals[0]) : undefined;
if (values.list) {
  for (const c of CASES) console.log(`${c.name}${c.large ? " (--large)" : ""}: ${c.results.join(", ")}`);
  process.exit(0);
}
const named = (c: (typeof CASES)[number]) => !!filter && filter.test(c.name);
const selected = CASES.filter(
  (c) =>
    (c.explicit ? named(c) : !c.large || values.large || named(c)) &&
    (!filter || named(c) || c.results.some((r) => filter.test(r))),
);
if (selected.length === 0) {
  console.error(`no bench case matches ${filter}; cases: ${CASES.map((c) => c.name).join(", ")}`);
  process.exit(2);
}
const info = runInfo();
console.log(
  `DCSM bench — bun ${info.bun}, ${info.machine}, load ${info.loadBefore.join(" ")}, commit ${info.commit}${info.dirty ? " (dirty)" : ""}`,
);
const results: BenchResult[] = [];
const failed: string[] = [];
const t0 = performance.now();
try {
  for (const c of selected) {
    const s = performance.now();
    try {
      for (const r of await c.run()) {
        results.push(r);
        console.log(formatResult(r));
      }
    } catch (err) {
      failed.push(c.name);
      console.error(`case ${c.name} failed:`, err);
    }
    console.log(`  (${c.name}: ${((performance.now() - s) / 1000).toFixed(1)} s)`);
  }
} finally {
  await closeFixtures();
}
const seconds = (performance.now() - t0) / 1000;
console.log(
  `${results.length} results in ${seconds.toFixed(0)} s${failed.length ? `; FAILED: ${failed.join(", ")}` : ""}`,
);
if (values.json) {
  const doc = {
    ...info,
    loadAfter: runInfo().loadBefore,
    seconds: Math.round(seconds),
    repeats: Number(process.env.BENCH_REPEATS ?? 3),
    filter: positionals[0] ?? null,
    results,
  };
  writeFileSync(values.json, JSON.stringify(doc, null, 2));
  console.log(`wrote ${values.json}`);
}
process.exit(failed.length ? 1 : 0);
