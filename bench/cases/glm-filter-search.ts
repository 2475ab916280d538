/**
 * GLM filters and hybrid search at scale (`glm.filter/{100k,1m}`, `glm.search/hybrid-{100k,1m}`,
 * `kps.reingest/{100k,1m}`): a store of N text KEMs (Zipf-distributed words, 8–30 per KEM),
 * clustered 384-dim embeddings in the production HNSW index (graph built before timing), and
 * metadata `namespace` (100 values: 1% each) and `tag` (10,000 values: 0.01% each). Through the
 * GLM service in process (protobuf in and out), sequential calls, p50/p99:
 *
 * - `glm.filter/<n>-1pct`, `-0.01pct`: filter-only first page (20, newest first), against the
 *   hand-written SQL on the same index (`sqlite.raw-filter/<n>`);
 * - `glm.filter/<n>-text-1pct`: text query (default hybrid: the committed model embeds it) within
 *   a 1% namespace, against the model embedding the same query alone (`kps.raw-embed/query`);
 * - `glm.search/hybrid-<n>`: the same text queries unfiltered;
 * - `kps.reingest/<n>`: KPS ProcessRawData of an unchanged one-chunk document already stored.
 * @module
 */
import { Database } from "bun:sqlite";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { createClient, createRouterTransport } from "@connectrpc/connect";
import { GlobalLongTermMemoryService } from "../../sdk/gen/dcsm/v1/glm_service_pb.ts";
import { type KEMQuery, KEMQuerySchema } from "../../sdk/gen/dcsm/v1/kem_pb.ts";
import { KnowledgeProcessorService } from "../../sdk/gen/dcsm/v1/kps_service_pb.ts";
import type { KemWrite } from "../../services/common/kem-record.ts";
import { DEFAULT_KEM_LIMITS } from "../../services/common/limits.ts";
import { assembleGlm } from "../../services/glm/assembly.ts";
import type { KemRepository } from "../../services/glm/kem-repository.ts";
import { createSqliteKemStore } from "../../services/glm/store/sqlite-store.ts";
import { createHnswVectorIndex } from "../../services/glm/vector/hnsw-index.ts";
import { createGlmSink } from "../../services/kps/glm-sink.ts";
import { createKpsService } from "../../services/kps/service.ts";
import { clusteredVectors, prng } from "../lib/clustered-vectors.ts";
import { benchDir, benchEmbedder } from "../lib/fixtures.ts";
import { type BenchResult, percentile } from "../lib/stats.ts";

const DIM = 384;
const SYLLABLES = "ka ri to ne mo sa lu vi pe da no ge ru mi ta so be fi zu ho la ke".split(" ");

/** A deterministic vocabulary of word-like strings. */
export function vocabulary(size: number): string[] {
  const words = new Set<string>();
  const rand = prng(7);
  while (words.size < size) {
    const n = 2 + Math.floor(rand() * 3);
    let w = "";
    for (let i = 0; i < n; i++) w += SYLLABLES[Math.floor(rand() * SYLLABLES.length)];
    words.add(w);
  }
  return [...words];
}

/** Samples word ranks from a Zipf(1.05) distribution over `n` words (inverse CDF on a table). */
function zipfSampler(n: number, rand: () => number): () => number {
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) cdf[i] = sum += 1 / (i + 1) ** 1.05;
  return () => {
    const u = rand() * sum;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

/**
 * Writes the bench's `n` KEMs (text, clustered embeddings, `namespace` 1% and `tag` 0.01%
 * metadata) through a repository in batches of 1,000.
 * @returns the vocabulary, most frequent word first.
 */
export async function fillFilterBenchStore(repository: KemRepository, n: number): Promise<string[]> {
  const words = vocabulary(20_000);
  const rand = prng(11);
  const zipf = zipfSampler(words.length, rand);
  const vectors = clusteredVectors(n, DIM, { seed: 3 });
  const enc = new TextEncoder();
  for (let start = 0; start < n; start += 1000) {
    const batch: KemWrite[] = [];
    for (let i = start; i < Math.min(n, start + 1000); i++) {
      const len = 8 + Math.floor(rand() * 23);
      const text: string[] = [];
      for (let w = 0; w < len; w++) text.push(words[zipf()]!);
      batch.push({
        id: `kem-${i}`,
        contentType: "text/plain",
        content: enc.encode(text.join(" ")),
        metadata: { namespace: `ns-${i % 100}`, tag: `t-${i % 10_000}`, kind: "note" },
        embedding: vectors.subarray(i * DIM, (i + 1) * DIM),
      });
    }
    await repository.write(batch);
  }
  return words;
}

function latencyResult(name: string, latMs: number[], extra?: Record<string, number | string>): BenchResult {
  const sorted = [...latMs].sort((a, b) => a - b);
  const total = latMs.reduce((a, b) => a + b, 0);
  return {
    case: name,
    n: latMs.length,
    opsPerSec: latMs.length / (total / 1000),
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    extra,
  };
}

async function timed(n: number, fn: (i: number) => Promise<unknown>): Promise<number[]> {
  for (let i = 0; i < Math.min(5, n); i++) await fn(i); // warm-up
  const lat: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn(i);
    lat.push(performance.now() - t0);
  }
  return lat;
}

function withBaseline(r: BenchResult, base: BenchResult): BenchResult {
  // Ratio of latencies as rates: baseline p50 / candidate p50 (1 = no overhead over the baseline).
  return { ...r, baseline: base.case, baselineOpsPerSec: base.opsPerSec, ratio: base.p50Ms! / r.p50Ms! };
}

/**
 * Runs the filter and hybrid cases at size `n`.
 * @param n - KEMs in the store (100k, 1M).
 * @param queries - timed calls per case.
 */
export async function benchFilterSearch(n: number, queries: number): Promise<BenchResult[]> {
  const label = n >= 1_000_000 ? `${n / 1_000_000}m` : `${n / 1000}k`;
  const dir = benchDir("dcsm-bench-filter-");
  const embedder = await benchEmbedder();
  const store = createSqliteKemStore({ path: join(dir, "glm.sqlite") });
  const index = createHnswVectorIndex({ dimension: DIM });
  const limits = { ...DEFAULT_KEM_LIMITS, dimension: DIM };
  const local = await assembleGlm({ store, index, embedder, limits }).open();
  const t0 = performance.now();
  const words = await fillFilterBenchStore(local.repository, n);
  const loadMs = performance.now() - t0;
  await index.drained();
  const graphMs = performance.now() - t0;

  const glm = createClient(GlobalLongTermMemoryService, local.transport);
  const meta = (key: string, value: string) => ({ [key]: { kind: { case: "stringValue" as const, value } } });
  // Queries: 3–5 keywords of ranks 150–3000. The synthetic vocabulary has no function words; in
  // English text the ~150 most frequent words are almost all stopwords, which queries drop.
  const qrand = prng(5);
  const texts = Array.from({ length: queries }, () =>
    Array.from({ length: 3 + Math.floor(qrand() * 3) }, () => words[150 + Math.floor(qrand() * 2850)]!).join(" "),
  );
  const retrieve = (query: KEMQuery) => glm.retrieveKEMs({ query, pageSize: 20 });

  const raw = new Database(join(dir, "glm.sqlite"), { readonly: true });
  const rawFilter = raw.query(
    "SELECT k.* FROM kem_meta m CROSS JOIN kems k ON k.id = m.id WHERE m.key = 'namespace' AND m.value = ? ORDER BY m.updated_at DESC, m.id DESC LIMIT 20",
  );
  const rawBase = latencyResult(
    `sqlite.raw-filter/${label}`,
    await timed(queries, async (i) => rawFilter.all(`ns-${i % 100}`)),
  );
  const onePct = latencyResult(
    `glm.filter/${label}-1pct`,
    await timed(queries, (i) =>
      retrieve(create(KEMQuerySchema, { metadataFilters: meta("namespace", `ns-${i % 100}`) })),
    ),
  );
  const rare = latencyResult(
    `glm.filter/${label}-0.01pct`,
    await timed(queries, (i) =>
      retrieve(create(KEMQuerySchema, { metadataFilters: meta("tag", `t-${(i * 37) % 10_000}`) })),
    ),
  );
  const embedBase = latencyResult(
    "kps.raw-embed/query",
    await timed(queries, (i) => embedder.embed([`${texts[i]!} ${i}`])),
  );
  const textFilter = latencyResult(
    `glm.filter/${label}-text-1pct`,
    await timed(queries, (i) =>
      retrieve(
        create(KEMQuerySchema, { textQuery: `${texts[i]!} ${i}`, metadataFilters: meta("namespace", `ns-${i % 100}`) }),
      ),
    ),
  );
  const hybrid = latencyResult(
    `glm.search/hybrid-${label}`,
    await timed(queries, (i) => retrieve(create(KEMQuerySchema, { textQuery: `${texts[i]!} x${i}` }))),
    {
      loadPerSec: Math.round(n / (loadMs / 1000)),
      graphBuildS: Math.round(graphMs / 1000),
    },
  );
  raw.close();

  // KPS re-ingest of an unchanged one-chunk document into this store.
  const kpsImpl = createKpsService({ embedder, sink: createGlmSink({ transport: local.transport }) });
  const kps = createClient(
    KnowledgeProcessorService,
    createRouterTransport(({ service }) => service(KnowledgeProcessorService, kpsImpl)),
  );
  const doc = {
    rawContent: new TextEncoder().encode("A short note that fits in one chunk and does not change."),
    sourcePath: "notes/unchanged.md",
    contentType: "text/markdown",
  };
  await kps.processRawData(doc);
  const reingest = latencyResult(`kps.reingest/${label}`, await timed(queries, () => kps.processRawData(doc)));

  await index.close();
  await store.close();
  return [
    rawBase,
    withBaseline(onePct, rawBase),
    withBaseline(rare, rawBase),
    embedBase,
    withBaseline(textFilter, embedBase),
    withBaseline(hybrid, embedBase),
    reingest,
  ];
}
