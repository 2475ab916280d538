/**
 * GLM vector search at scale: HNSW (usearch graph + exact re-scoring, the production
 * index) against exact search on clustered 384-dim vectors — insert rate (vectors searchable per
 * second), graph build rate, query latency p50/p99 and recall@10 versus exact search. Queries are
 * sequential; ops/s is the median over the repeat groups of queries.
 * @module
 */
import { ExactVectorStore } from "../../services/glm/vector/exact-store.ts";
import { createHnswVectorIndex } from "../../services/glm/vector/hnsw-index.ts";
import { clusteredVectors } from "../lib/clustered-vectors.ts";
import { repeatCount } from "../lib/measure.ts";
import { type BenchResult, median, percentile, spreadOf } from "../lib/stats.ts";

const DIM = 384;

/**
 * Result of sequential query latencies (ms), split into `repeatCount()` consecutive groups for the
 * per-repeat rates and spread; ops/s is the median group rate.
 */
function grouped(name: string, latMs: number[], extra?: Record<string, number | string>): BenchResult {
  const size = Math.ceil(latMs.length / repeatCount());
  const runs: number[] = [];
  for (let i = 0; i < latMs.length; i += size) {
    const g = latMs.slice(i, i + size);
    runs.push(g.length / (g.reduce((a, b) => a + b, 0) / 1000));
  }
  const sorted = [...latMs].sort((a, b) => a - b);
  return {
    case: name,
    n: latMs.length,
    opsPerSec: median(runs),
    runs,
    spread: spreadOf(runs),
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    extra,
  };
}

/**
 * Runs the vector-search case at size `n`.
 * @param n - vectors in the index (100k, 1M).
 * @param queries - queries timed (from the same distribution, not in the index).
 */
export async function benchVectorSearch(n: number, queries = 200): Promise<BenchResult[]> {
  const label = n >= 1_000_000 ? `${n / 1_000_000}m` : `${n / 1000}k`;
  const data = clusteredVectors(n, DIM, { seed: 1 });
  const qs = clusteredVectors(queries, DIM, { seed: 1, clusters: Math.max(10, Math.round(Math.sqrt(n))) });
  // Queries: fresh points near the same centres (same seed → same centres; different noise draws).
  const qdata = clusteredVectors(n + queries, DIM, { seed: 1 }).subarray(n * DIM);
  void qs;
  const ids = Array.from({ length: n }, (_, i) => `v${i}`);
  const row = (i: number) => data.subarray(i * DIM, (i + 1) * DIM);

  // Exact reference.
  const exact = new ExactVectorStore(DIM, n);
  for (let i = 0; i < n; i++) exact.set(ids[i]!, row(i));
  const truth: string[][] = [];
  const exactLat: number[] = [];
  let t0 = performance.now();
  for (let q = 0; q < queries; q++) {
    const s = performance.now();
    truth.push(exact.search(qdata.subarray(q * DIM, (q + 1) * DIM), 10).map((h) => h.id));
    exactLat.push(performance.now() - s);
  }
  const exactResult = grouped(`glm.search/exact-${label}`, exactLat);
  void t0;

  // HNSW: inserts are searchable at once (tail); the graph is built in the background.
  const index = createHnswVectorIndex({ dimension: DIM });
  t0 = performance.now();
  for (let start = 0; start < n; start += 10_000) {
    const entries = [];
    for (let i = start; i < Math.min(n, start + 10_000); i++) entries.push({ id: ids[i]!, vector: row(i) });
    await index.upsert(entries);
  }
  const insertMs = performance.now() - t0;
  await index.drained();
  const buildMs = performance.now() - t0;
  const lat: number[] = [];
  let hits = 0;
  t0 = performance.now();
  for (let q = 0; q < queries; q++) {
    const s = performance.now();
    const res = await index.search(qdata.subarray(q * DIM, (q + 1) * DIM), 10);
    lat.push(performance.now() - s);
    const want = new Set(truth[q]);
    hits += res.filter((h) => want.has(h.id)).length;
  }
  const hnswResult = grouped(`glm.search/hnsw-${label}`, lat, {
    recallAt10: hits / (queries * 10),
    insertPerSec: Math.round(n / (insertMs / 1000)),
    graphBuildPerSec: Math.round(n / (buildMs / 1000)),
  });
  hnswResult.baseline = `glm.search/exact-${label}`;
  hnswResult.baselineOpsPerSec = exactResult.opsPerSec;
  const ratios = hnswResult.runs!.map((x, i) => x / exactResult.runs![i]!);
  hnswResult.ratio = median(ratios);
  hnswResult.ratioSpread = spreadOf(ratios);
  await index.close();
  return [exactResult, hnswResult];
}
