/**
 * Reading the Prometheus text format in tests: scrape `/metrics` over HTTP, parse samples, look
 * values up by name and labels, and poll until a value holds.
 */
import { waitFor } from "./wait-for.ts";

/** Samples by canonical key: `name{a="x",b="y"}` with labels sorted by name. */
export type Samples = Map<string, number>;

function keyOf(name: string, labels: Record<string, string>): string {
  const pairs = Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return pairs.length === 0 ? name : `${name}{${pairs.map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(",")}}`;
}

/**
 * Parses exposition text (format 0.0.4): comments and blank lines skipped, label values unescaped.
 * @throws Error on a line that is not a sample.
 */
export function parseMetrics(text: string): Samples {
  const out: Samples = new Map();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
    }
    out.set(keyOf(m[1]!, labels), Number(m[3]));
  }
  return out;
}

/** The sample with exactly these labels, or 0 when absent (a counter not yet incremented). */
export function value(samples: Samples, name: string, labels: Record<string, string> = {}): number {
  return samples.get(keyOf(name, labels)) ?? 0;
}

/**
 * GETs `<baseUrl>/metrics` and parses it.
 * @throws Error when the answer is not 200 with the Prometheus text content type.
 */
export async function scrape(baseUrl: string): Promise<Samples> {
  const res = await fetch(`${baseUrl}/metrics`);
  const text = await res.text();
  if (res.status !== 200 || !(res.headers.get("content-type") ?? "").startsWith("text/plain; version=0.0.4")) {
    throw new Error(`/metrics answered ${res.status} ${res.headers.get("content-type")}: ${text.slice(0, 200)}`);
  }
  return parseMetrics(text);
}

/**
 * Scrapes every 20 ms until `ok(value)` holds for the sample.
 * @returns the scrape where it held.
 * @throws Error after `timeoutMs` (default 5000) with the last value.
 */
export async function waitForMetric(
  baseUrl: string,
  name: string,
  labels: Record<string, string>,
  ok: (v: number) => boolean,
  timeoutMs = 5000,
): Promise<Samples> {
  let last: Samples | undefined;
  try {
    return await waitFor(
      async () => {
        last = await scrape(baseUrl);
        return ok(value(last, name, labels)) ? last : undefined;
      },
      { timeoutMs },
    );
  } catch {
    throw new Error(`${name} ${JSON.stringify(labels)} stayed at ${last ? value(last, name, labels) : "(no scrape)"}`);
  }
}
