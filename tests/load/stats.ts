/**
 * Latency and outcome bookkeeping for the load test: samples per (operation, protocol), their
 * percentiles, and the printed table.
 * @module
 */

/** Percentiles of one sample set, ms. */
export interface LatencySummary {
  /** Samples (successful calls). */
  count: number;
  /** Calls per second over the measured window. */
  perSecond: number;
  /** Median, ms. */
  p50: number;
  /** 95th percentile, ms. */
  p95: number;
  /** 99th percentile, ms. */
  p99: number;
  /** Slowest, ms. */
  max: number;
}

/**
 * The value at quantile `q` (0..1) of ascending `sorted` (nearest rank); 0 for no samples.
 * @param sorted - samples sorted ascending.
 * @param q - quantile, e.g. 0.99.
 */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank]!;
}

/**
 * Summarises samples measured over `seconds`.
 * @param samples - latencies, ms (not modified).
 * @param seconds - length of the measured window, s.
 */
export function summarise(samples: readonly number[], seconds: number): LatencySummary {
  const s = Float64Array.from(samples).sort();
  const r = (x: number) => Math.round(x * 100) / 100;
  return {
    count: s.length,
    perSecond: r(s.length / Math.max(seconds, 1e-9)),
    p50: r(quantile(s, 0.5)),
    p95: r(quantile(s, 0.95)),
    p99: r(quantile(s, 0.99)),
    max: r(s.length ? s[s.length - 1]! : 0),
  };
}

/** Latency samples grouped by a key such as "publish/grpc". */
export class LatencyBook {
  private readonly samples = new Map<string, number[]>();

  /** Records one latency, ms, under `key`. */
  add(key: string, ms: number): void {
    let xs = this.samples.get(key);
    if (!xs) {
      xs = [];
      this.samples.set(key, xs);
    }
    xs.push(ms);
  }

  /** Keys recorded so far, sorted. */
  keys(): string[] {
    return [...this.samples.keys()].sort();
  }

  /** All samples whose key satisfies `pick`. */
  select(pick: (key: string) => boolean): number[] {
    const out: number[] = [];
    for (const [k, xs] of this.samples) if (pick(k)) for (const x of xs) out.push(x);
    return out;
  }

  /** Summaries per key, plus per operation over all protocols ("<op>/all"), over `seconds`. */
  summaries(seconds: number): Record<string, LatencySummary> {
    const out: Record<string, LatencySummary> = {};
    const ops = new Set(this.keys().map((k) => k.split("/")[0]!));
    for (const op of [...ops].sort()) {
      for (const k of this.keys().filter((k) => k.startsWith(`${op}/`)))
        out[k] = summarise(this.samples.get(k)!, seconds);
      out[`${op}/all`] = summarise(
        this.select((k) => k.startsWith(`${op}/`)),
        seconds,
      );
    }
    return out;
  }
}

/**
 * Formats summaries as an aligned text table, one row per key.
 * @param rows - summaries by key, in the order to print.
 * @param errors - back-pressure and other error counts by the same keys (optional columns).
 */
export function formatTable(
  rows: Record<string, LatencySummary>,
  errors: Record<string, { backpressure: number; failed: number }> = {},
): string {
  const head = ["operation/protocol", "calls", "calls/s", "p50 ms", "p95 ms", "p99 ms", "max ms", "backpr.", "errors"];
  const body = Object.entries(rows).map(([k, s]) => [
    k,
    String(s.count),
    s.perSecond.toFixed(1),
    s.p50.toFixed(1),
    s.p95.toFixed(1),
    s.p99.toFixed(1),
    s.max.toFixed(1),
    String(errors[k]?.backpressure ?? 0),
    String(errors[k]?.failed ?? 0),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  return [line(head), widths.map((w) => "-".repeat(w)).join("  "), ...body.map(line)].join("\n");
}
