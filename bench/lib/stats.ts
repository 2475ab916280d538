/**
 * Latency statistics and result records shared by the bench cases.
 * @module
 */

/** Percentile (0..100) of an ascending-sorted array (nearest rank). */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

/** Median of numbers (any order); NaN for none. */
export function median(xs: readonly number[]): number {
  return percentile(
    [...xs].sort((a, b) => a - b),
    50,
  );
}

/** Relative spread of repeated figures: (max − min) / median; 0 for fewer than two. */
export function spreadOf(xs: readonly number[]): number {
  if (xs.length < 2) return 0;
  const m = median(xs);
  return m > 0 ? (Math.max(...xs) - Math.min(...xs)) / m : 0;
}

/** One measured case, as printed and written to `--json` output. */
export interface BenchResult {
  /** Case name, e.g. "glm.search/hnsw-100k". */
  case: string;
  /** Operations measured (per repeat). */
  n: number;
  /** Operations per second: the median over the repeats. */
  opsPerSec: number;
  /** Median latency in ms per operation (all repeats pooled), when meaningful. */
  p50Ms?: number;
  /** 99th percentile latency in ms per operation (all repeats pooled), when meaningful. */
  p99Ms?: number;
  /** Operations per second of each repeat, in run order. */
  runs?: number[];
  /** Relative spread of `runs`: (max − min) / median. */
  spread?: number;
  /** Name of the raw baseline this case is compared with. */
  baseline?: string;
  /** Baseline operations per second (median), measured in the same run. */
  baselineOpsPerSec?: number;
  /** Median over the repeats of opsPerSec / baselineOpsPerSec (each repeat paired with its own baseline run). */
  ratio?: number;
  /** Relative spread of the per-repeat ratios. */
  ratioSpread?: number;
  /** The target ratio (bench/README.md "Targets"), when this case has one. */
  target?: number;
  /** Extra figures (recall, build rate, …). */
  extra?: Record<string, number | string>;
}

/**
 * Summarizes per-operation latencies (ms) measured over `wallMs` (one repeat).
 * @returns a result with ops/s, p50 and p99 (ms).
 */
export function summarize(
  name: string,
  latenciesMs: number[],
  wallMs: number,
  extra?: Record<string, number | string>,
): BenchResult {
  const sorted = [...latenciesMs].sort((a, b) => a - b);
  return {
    case: name,
    n: sorted.length,
    opsPerSec: sorted.length / (wallMs / 1000),
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    extra,
  };
}

function fmtMs(ms: number): string {
  if (ms < 0.01) return `${(ms * 1e6).toFixed(0)} ns`;
  if (ms < 1) return `${(ms * 1000).toFixed(1)} µs`;
  return `${ms.toFixed(2)} ms`;
}

/** Human-readable ops/s (k, M). */
export function fmtOps(x: number): string {
  if (x >= 1e6) return `${(x / 1e6).toFixed(2)}M`;
  if (x >= 1e4) return `${(x / 1e3).toFixed(1)}k`;
  return x >= 100 ? x.toFixed(0) : x.toFixed(1);
}

/** Formats a result as one line for the terminal. */
export function formatResult(r: BenchResult): string {
  const parts = [
    `${r.case.padEnd(36)} ${fmtOps(r.opsPerSec).padStart(8)} ops/s ±${((r.spread ?? 0) * 50).toFixed(0).padStart(2)}%`,
  ];
  if (r.p50Ms !== undefined) parts.push(`p50 ${fmtMs(r.p50Ms).padStart(9)}  p99 ${fmtMs(r.p99Ms!).padStart(9)}`);
  if (r.ratio !== undefined) {
    const t =
      r.target !== undefined
        ? ` (target ≥ ${(r.target * 100).toFixed(0)}%: ${r.ratio >= r.target ? "met" : "MISSED"})`
        : "";
    parts.push(`${(r.ratio * 100).toFixed(1)}% of ${r.baseline}${t}`);
  }
  if (r.extra)
    parts.push(
      Object.entries(r.extra)
        .map(([k, v]) => `${k}=${typeof v === "number" ? +v.toFixed(4) : v}`)
        .join(" "),
    );
  return parts.join("  |  ");
}
