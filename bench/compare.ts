/**
 * `bun run bench:compare a.json b.json [--threshold 0.1]`: the change of every case present in both
 * result files (b relative to a). Cases with a baseline are compared by their ratio to it (robust
 * to machine load, since both were measured in the same run); the others by ops/s. A change counts
 * as a regression only when it is worse than the noise: the larger of the two runs' spreads over
 * their repeats and the threshold (default 10%). Exit code 1 when any case regressed.
 * @module
 */
import { parseArgs } from "node:util";
import { readResults } from "./lib/results-file.ts";
import type { BenchResult } from "./lib/stats.ts";

/** One compared case. */
export interface CaseChange {
  /** Case name. */
  case: string;
  /** "ratio" when compared by the ratio to the baseline, else "ops/s". */
  metric: "ratio" | "ops/s";
  /** Value in a and in b. */
  a: number;
  b: number;
  /** b / a − 1. */
  change: number;
  /** Noise bound used: max(spread a, spread b, threshold). */
  noise: number;
  /** "regression", "improvement" or "same". */
  verdict: "regression" | "improvement" | "same";
}

/** Compares two result lists (see the module comment). */
export function compareResults(a: BenchResult[], b: BenchResult[], threshold = 0.1): CaseChange[] {
  const byName = new Map(a.map((r) => [r.case, r]));
  const out: CaseChange[] = [];
  for (const rb of b) {
    const ra = byName.get(rb.case);
    if (!ra) continue;
    const byRatio = ra.ratio !== undefined && rb.ratio !== undefined;
    const va = byRatio ? ra.ratio! : ra.opsPerSec;
    const vb = byRatio ? rb.ratio! : rb.opsPerSec;
    const noise = Math.max(
      threshold,
      byRatio ? Math.max(ra.ratioSpread ?? 0, rb.ratioSpread ?? 0) : Math.max(ra.spread ?? 0, rb.spread ?? 0),
    );
    const change = vb / va - 1;
    out.push({
      case: rb.case,
      metric: byRatio ? "ratio" : "ops/s",
      a: va,
      b: vb,
      change,
      noise,
      verdict: change < -noise ? "regression" : change > noise ? "improvement" : "same",
    });
  }
  return out;
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { threshold: { type: "string" } } });
  if (positionals.length !== 2) {
    console.error("usage: bun run bench:compare a.json b.json [--threshold 0.1]");
    process.exit(2);
  }
  const [fa, fb] = positionals.map((p) => readResults(p!));
  console.log(`a: ${positionals[0]} (${fa!.date}, commit ${fa!.commit}, load ${fa!.loadBefore?.join(" ")})`);
  console.log(`b: ${positionals[1]} (${fb!.date}, commit ${fb!.commit}, load ${fb!.loadBefore?.join(" ")})`);
  const changes = compareResults(fa!.results, fb!.results, values.threshold ? Number(values.threshold) : 0.1);
  const fmt = (c: CaseChange, v: number) => (c.metric === "ratio" ? `${(v * 100).toFixed(1)}%` : v.toFixed(0));
  for (const c of changes) {
    const flag = c.verdict === "regression" ? "  REGRESSION" : c.verdict === "improvement" ? "  improved" : "";
    console.log(
      `${c.case.padEnd(40)} ${c.metric.padEnd(5)} ${fmt(c, c.a).padStart(10)} → ${fmt(c, c.b).padStart(10)}  ${(c.change >= 0 ? "+" : "") + (c.change * 100).toFixed(1)}% (noise ±${(c.noise * 100).toFixed(0)}%)${flag}`,
    );
  }
  const bad = changes.filter((c) => c.verdict === "regression");
  console.log(`${changes.length} cases compared, ${bad.length} regressions beyond noise`);
  process.exit(bad.length ? 1 : 0);
}
