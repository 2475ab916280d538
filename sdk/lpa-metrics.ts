/**
 * LPA (LocalAgentMemory) metrics in the Prometheus text format (README "Metrics and logs"). The LPA
 * lives in the agent's process, so its hit ratio is measured there, not by the server's `/metrics`:
 * an agent that runs an HTTP endpoint appends {@link formatLpaMetrics} to its own scrape output.
 * Browser-safe: no imports.
 * @module
 */

/** Counters of one {@link LocalAgentMemory} (see `LocalAgentMemory.stats()`). */
export interface LocalAgentMemoryStats {
  /** KEMs cached now. */
  entries: number;
  /** Most KEMs kept (`maxEntries`). */
  maxEntries: number;
  /** `get(id)` calls answered from the cache since start (or the last `resetStats()`). */
  hits: number;
  /** `get(id)` calls that found nothing. */
  misses: number;
  /** `hits / (hits + misses)`, 0 before the first lookup. */
  hitRatio: number;
}

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function labelText(labels: Readonly<Record<string, string>>, extra?: [string, string]): string {
  const pairs = Object.entries(labels);
  if (extra) pairs.push(extra);
  return pairs.length === 0 ? "" : `{${pairs.map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(",")}}`;
}

/**
 * Renders LPA stats as Prometheus text (exposition format 0.0.4), one family per metric:
 * - `dcsm_lpa_lookups_total{result="hit"|"miss"}` (counter): `get(id)` lookups by result;
 * - `dcsm_lpa_hit_ratio` (gauge): hits / lookups;
 * - `dcsm_lpa_entries` (gauge): KEMs cached; `dcsm_lpa_capacity` (gauge): `maxEntries`.
 *
 * Example: `formatLpaMetrics(sdk.lpa.stats(), { agent_id: sdk.agentId })`.
 * @param stats - the counters.
 * @param labels - constant labels on every sample, e.g. `{ agent_id: "planner-1" }` (values escaped).
 * @returns the text, ending with a newline.
 * @throws TypeError when a label name is not a valid Prometheus label name, or is "result".
 */
export function formatLpaMetrics(stats: LocalAgentMemoryStats, labels: Readonly<Record<string, string>> = {}): string {
  for (const k of Object.keys(labels)) {
    if (!LABEL_NAME.test(k) || k.startsWith("__") || k === "result")
      throw new TypeError(`formatLpaMetrics: invalid label name ${JSON.stringify(k)}`);
  }
  const l = labelText(labels);
  return [
    "# HELP dcsm_lpa_lookups_total LocalAgentMemory get(id) lookups by result.",
    "# TYPE dcsm_lpa_lookups_total counter",
    `dcsm_lpa_lookups_total${labelText(labels, ["result", "hit"])} ${stats.hits}`,
    `dcsm_lpa_lookups_total${labelText(labels, ["result", "miss"])} ${stats.misses}`,
    "# HELP dcsm_lpa_hit_ratio LocalAgentMemory hits / lookups.",
    "# TYPE dcsm_lpa_hit_ratio gauge",
    `dcsm_lpa_hit_ratio${l} ${stats.hitRatio}`,
    "# HELP dcsm_lpa_entries KEMs cached in LocalAgentMemory.",
    "# TYPE dcsm_lpa_entries gauge",
    `dcsm_lpa_entries${l} ${stats.entries}`,
    "# HELP dcsm_lpa_capacity Most KEMs LocalAgentMemory keeps.",
    "# TYPE dcsm_lpa_capacity gauge",
    `dcsm_lpa_capacity${l} ${stats.maxEntries}`,
    "",
  ].join("\n");
}
