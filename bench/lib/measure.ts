/**
 * Measurement helpers: a closed-loop load generator (`pool`), interleaved repeats of a candidate
 * and its raw baseline (`compareRuns`), and mitata-timed micro operations (`compareMicro`).
 * Every candidate is paired with a baseline run in the same repeat, so background load on a shared
 * machine hits both alike; the ratio is the median of the per-repeat ratios.
 * @module
 */
import { measure } from "mitata";
import { type BenchResult, median, percentile, spreadOf } from "./stats.ts";

/** One timed run of an operation: `n` operations over `wallMs`, optional per-op latencies (ms). */
export interface Sample {
  /** Operations done. */
  n: number;
  /** Wall-clock time of the run, ms. */
  wallMs: number;
  /** Per-operation latencies, ms (absent for batch-timed runs). */
  latenciesMs?: number[];
  /** Extra figures (recall, …); the last repeat's are kept. */
  extra?: Record<string, number | string>;
}

/** Repeats per case (`--repeats`, `BENCH_REPEATS`, read at call time). @default 3 */
export function repeatCount(): number {
  return Math.max(1, Number(process.env.BENCH_REPEATS ?? 3));
}

/**
 * Runs `n` calls of `fn` with `inFlight` of them outstanding at a time (closed loop), timing each.
 * @param fn - the operation; receives the operation index 0..n-1.
 * @returns the sample (latencies in ms).
 */
export async function pool(n: number, inFlight: number, fn: (i: number) => Promise<unknown>): Promise<Sample> {
  const lat = new Array<number>(n);
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: Math.min(inFlight, n) }, async () => {
      while (next < n) {
        const i = next++;
        const s = performance.now();
        await fn(i);
        lat[i] = performance.now() - s;
      }
    }),
  );
  return { n, wallMs: performance.now() - t0, latenciesMs: lat };
}

/** A named runnable measured against a baseline. */
export interface Contender {
  /** Case name. */
  name: string;
  /** One timed run. */
  run: () => Promise<Sample>;
  /** Target ratio (bench/README.md "Targets"), when the case has one. */
  target?: number;
}

function resultOf(name: string, samples: Sample[]): BenchResult {
  const runs = samples.map((s) => s.n / (s.wallMs / 1000));
  const lat = samples.flatMap((s) => s.latenciesMs ?? []).sort((a, b) => a - b);
  const r: BenchResult = { case: name, n: samples[0]!.n, opsPerSec: median(runs), runs, spread: spreadOf(runs) };
  if (lat.length > 0) Object.assign(r, { p50Ms: percentile(lat, 50), p99Ms: percentile(lat, 99) });
  const extra = samples.at(-1)!.extra;
  if (extra) r.extra = extra;
  return r;
}

/**
 * Marks every result after the first with the first as its baseline: the per-repeat ratios' spread,
 * the ratio `ratioOf` computes (from the result, the baseline and the per-repeat ratios), and the
 * contender's target when it has one. `results[i]` belongs to `contenders[i]`.
 */
function relateToBaseline(
  results: BenchResult[],
  contenders: { target?: number }[],
  ratioOf: (res: BenchResult, base: BenchResult, ratios: number[]) => number,
): void {
  const base = results[0]!;
  for (let i = 1; i < results.length; i++) {
    const res = results[i]!;
    const ratios = res.runs!.map((x, r) => x / base.runs![r]!);
    Object.assign(res, {
      baseline: base.case,
      baselineOpsPerSec: base.opsPerSec,
      ratio: ratioOf(res, base, ratios),
      ratioSpread: spreadOf(ratios),
    });
    const target = contenders[i]!.target;
    if (target !== undefined) res.target = target;
  }
}

/**
 * Runs the baseline and every candidate `repeats` times, interleaved (after one untimed warm-up
 * run each unless `warmup` is false), and returns the baseline's result followed by each
 * candidate's with its ratio to the baseline.
 */
export async function compareRuns(
  baseline: Contender | null,
  candidates: Contender[],
  options: { repeats?: number; warmup?: boolean } = {},
): Promise<BenchResult[]> {
  const repeats = options.repeats ?? repeatCount();
  const all = baseline ? [baseline, ...candidates] : candidates;
  if (options.warmup ?? true) for (const c of all) await c.run();
  const samples = all.map(() => [] as Sample[]);
  for (let r = 0; r < repeats; r++) for (let i = 0; i < all.length; i++) samples[i]!.push(await all[i]!.run());
  const results = all.map((c, i) => resultOf(c.name, samples[i]!));
  if (baseline) relateToBaseline(results, all, (_res, _base, ratios) => median(ratios));
  return results;
}

/** A synchronous micro operation timed by mitata. */
export interface MicroContender {
  /** Case name. */
  name: string;
  /** The operation (one call = one op). */
  fn: () => unknown;
  /** Target ratio, when the case has one. */
  target?: number;
}

/**
 * Times micro operations with mitata's `measure` (repeats interleaved). Each repeat's rate is
 * 1e9 / its median sample (ns per op); a case's ops/s is the **best** repeat (micro timings on a
 * loaded machine are only ever slowed down, by preemption or GC, never sped up) and its ratio is
 * best / best baseline. The first contender is the baseline.
 */
export async function compareMicro(
  baseline: MicroContender,
  candidates: MicroContender[],
  options: { repeats?: number; minCpuMs?: number } = {},
): Promise<BenchResult[]> {
  const all = [baseline, ...candidates];
  const opts = { min_cpu_time: (options.minCpuMs ?? 250) * 1e6 };
  const stats = all.map(() => [] as { p50: number; p99: number; samples: number }[]);
  for (let r = 0; r < (options.repeats ?? repeatCount()); r++) {
    for (let i = 0; i < all.length; i++) {
      const s = await measure(all[i]!.fn, opts);
      stats[i]!.push({ p50: s.p50, p99: s.p99, samples: s.samples.length });
    }
  }
  const results = all.map((c, i): BenchResult => {
    const runs = stats[i]!.map((s) => 1e9 / s.p50);
    const best = stats[i]!.reduce((a, b) => (b.p50 < a.p50 ? b : a));
    return {
      case: c.name,
      n: best.samples,
      opsPerSec: Math.max(...runs),
      runs,
      spread: spreadOf(runs),
      p50Ms: best.p50 / 1e6,
      p99Ms: best.p99 / 1e6,
      extra: { stat: "best of repeats" },
    };
  });
  relateToBaseline(results, all, (res, base) => res.opsPerSec / base.opsPerSec);
  return results;
}
