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

/** One measured case, as printed and written to `--json` output. */
export interface BenchResult {
  /** Case name, e.g. "glm.search/hnsw-100k". */
  case: string;
  /** Operations measured. */
  n: number;
  /** Operations per second. */
  opsPerSec: number;
  /** Median latency in ms (per operation), when meaningful. */
  p50Ms?: number;
  /** 99th percentile latency in ms, when meaningful. */
  p99Ms?: number;
  /** Name of the raw baseline this case is compared with. */
  baseline?: string;
  /** Baseline operations per second, measured in the same run. */
  baselineOpsPerSec?: number;
  /** opsPerSec / baselineOpsPerSec. */
  ratio?: number;
  /** Extra figures (recall, build rate, …). */
  extra?: Record<string, number | string>;
}

/** Summarizes per-operation latencies (ms) measured over `wallMs`. */
export function summarize(name: string, latenciesMs: number[], wallMs: number, extra?: Record<string, number | string>): BenchResult {
  const sorted = [...latenciesMs].sort((a, b) => a - b);
  return { case: name, n: sorted.length, opsPerSec: sorted.length / (wallMs / 1000), p50Ms: percentile(sorted, 50), p99Ms: percentile(sorted, 99), extra };
}

/** Formats a result as one line for the terminal. */
export function formatResult(r: BenchResult): string {
  const parts = [`${r.case.padEnd(34)} n=${String(r.n).padStart(7)}  ${r.opsPerSec.toFixed(1).padStart(11)} ops/s`];
  if (r.p50Ms !== undefined) parts.push(`p50 ${r.p50Ms.toFixed(3)} ms  p99 ${r.p99Ms!.toFixed(3)} ms`);
  if (r.ratio !== undefined) parts.push(`vs ${r.baseline}: ${(r.ratio * 100).toFixed(1)}%`);
  if (r.extra) parts.push(Object.entries(r.extra).map(([k, v]) => `${k}=${typeof v === "number" ? +v.toFixed(4) : v}`).join(" "));
  return parts.join("  |  ");
}
