/**
 * The registry of bench case groups. Each group runs together (its candidates interleaved with
 * their raw baseline) and yields several named results; `bun run bench -- <regex>` selects the
 * groups whose name or any result name matches.
 * @module
 */
import { compareRuns, pool } from "../lib/measure.ts";
import type { BenchResult } from "../lib/stats.ts";
import { benchCacheGet, benchCacheQuery, benchCacheSet, benchLpaHit } from "./cache.ts";
import { benchMetadataCodecs, benchRecordCodecs } from "./codec.ts";
import { benchEmbeddings } from "./embeddings.ts";
import { benchBatchStore } from "./glm-batch-store.ts";
import { benchFilterSearch } from "./glm-filter-search.ts";
import { benchBatchStorePostgres, benchReplicaLag } from "./glm-postgres.ts";
import { benchRetrievalLocomo } from "./glm-retrieval.ts";
import { benchVectorSearch } from "./glm-vector-search.ts";
import { benchKpsIngest, benchKpsIngestLargeStore } from "./kps-ingest.ts";
import { benchRpcOverhead } from "./rpc-overhead.ts";
import { benchSwmMemory, benchSwmRedis } from "./swm.ts";
import { benchKpsOutbox, benchWriteBehind } from "./swm-write-behind.ts";

/** The runner's self-test (used by tests/bench): a no-op against an awaited no-op, in milliseconds. */
function benchSelftest(): Promise<BenchResult[]> {
  return compareRuns({ name: "bench.selftest/noop", run: () => pool(2000, 8, async () => {}) }, [
    { name: "bench.selftest/noop-async", run: () => pool(2000, 8, () => Promise.resolve().then(() => undefined)) },
  ]);
}

/** A group of bench results measured together. */
export interface BenchCase {
  /** Group name (matched by the filter). */
  name: string;
  /** Names of the results it yields (matched by the filter too; shown by `--list`). */
  results: string[];
  /** Only with `--large` (or when the filter names it). */
  large?: boolean;
  /** Only when the filter names it (the runner's self-test). */
  explicit?: boolean;
  /** Runs the group. */
  run: () => Promise<BenchResult[]>;
}

/** Every case group, in run order (fast micro cases first; the memory-heavy vector search last). */
export const CASES: BenchCase[] = [
  {
    name: "bench.selftest",
    explicit: true,
    results: ["bench.selftest/noop", "bench.selftest/noop-async"],
    run: benchSelftest,
  },
  { name: "cache.get", results: ["cache.get/lru-cache", "cache.get/indexed-lru", "cache.get/map"], run: benchCacheGet },
  { name: "cache.set", results: ["cache.set/lru-cache", "cache.set/indexed-lru", "cache.set/map"], run: benchCacheSet },
  {
    name: "cache.query",
    results: ["cache.query/map-index", "cache.query/indexed-lru", "cache.query/lru-cache-scan"],
    run: benchCacheQuery,
  },
  { name: "lpa.get-kem", results: ["lpa.lru-cache-get", "lpa.get-kem/hit"], run: benchLpaHit },
  {
    name: "codec.record",
    results: [
      "codec.record/protobuf",
      "codec.record/hand-laid",
      "codec.record/msgpackr-array",
      "codec.record/msgpackr-records",
    ],
    run: benchRecordCodecs,
  },
  { name: "codec.metadata", results: ["codec.metadata/json", "codec.metadata/msgpackr"], run: benchMetadataCodecs },
  {
    name: "rpc.unary",
    results: [
      "rpc.bare/bun-serve",
      "rpc.unary/connect-json",
      "rpc.unary/connect-binary",
      "rpc.unary/grpc-web",
      "rpc.unary/grpc",
    ],
    run: benchRpcOverhead,
  },
  {
    name: "swm.memory",
    results: ["swm.publish/memory", "swm.publish/memory-connect-binary", "swm.publish/memory-grpc", "swm.query/memory"],
    run: benchSwmMemory,
  },
  {
    name: "swm.redis",
    results: [
      "swm.publish/redis",
      "redis.raw-multi/publish-64",
      "swm.publish/redis-connect-binary",
      "swm.publish/redis-grpc",
      "swm.query/redis",
      "redis.benchmark/set-c64",
    ],
    run: benchSwmRedis,
  },
  {
    name: "glm.batch-store/100",
    results: ["sqlite.raw-insert/100", "glm.batch-store/100", "glm.batch-store/100-connect-binary"],
    run: () => benchBatchStore(100, 30),
  },
  {
    name: "glm.batch-store/1000",
    results: ["sqlite.raw-insert/1000", "glm.batch-store/1000", "glm.batch-store/1000-connect-binary"],
    run: () => benchBatchStore(1000, 4),
  },
  {
    name: "glm.batch-store/1000-postgres",
    results: ["postgres.raw-insert/1000", "glm.batch-store/1000-postgres"],
    run: () => benchBatchStorePostgres(1000, 4),
  },
  { name: "glm.replica-lag/postgres", results: ["glm.replica-lag/postgres"], run: () => benchReplicaLag(200) },
  {
    name: "swm.write-behind",
    results: [
      "sqlite.raw-insert/wb-100",
      "redis+sqlite.raw-queue/wb-100",
      "swm.write-behind/memory",
      "swm.write-behind/redis",
      "swm.write-behind/redis:composite",
      "sqlite.raw-glm-writes/wb-100",
      "swm.write-behind/memory:glm-writes",
      "swm.write-behind/redis:glm-writes",
    ],
    run: benchWriteBehind,
  },
  { name: "kps.outbox", results: ["sqlite.raw-insert/outbox-100", "kps.outbox/drain"], run: benchKpsOutbox },
  {
    name: "kps.embeddings",
    results: ["kps.embeddings/raw-pipeline-b32", "kps.embeddings/http-v1-b32"],
    run: () => benchEmbeddings(),
  },
  {
    name: "kps.ingest",
    results: ["kps.raw-pipeline/turns", "kps.ingest/turns", "kps.raw-pipeline/code", "kps.ingest/code"],
    run: benchKpsIngest,
  },
  {
    name: "kps.ingest/turns-100k",
    results: ["kps.ingest/turns-empty", "kps.ingest/turns-100k"],
    run: benchKpsIngestLargeStore,
  },
  {
    name: "glm.retrieval/locomo-dev",
    results: [
      "glm.retrieval/raw-dense",
      "glm.retrieval/locomo-dev-vector",
      "glm.retrieval/locomo-dev-lexical",
      "glm.retrieval/locomo-dev-hybrid",
    ],
    run: benchRetrievalLocomo,
  },
  {
    name: "glm.filter/100k",
    results: [
      "sqlite.raw-filter/100k",
      "glm.filter/100k-1pct",
      "glm.filter/100k-0.01pct",
      "kps.raw-embed/query",
      "glm.filter/100k-text-1pct",
      "glm.search/hybrid-100k",
      "kps.reingest/100k",
    ],
    run: () => benchFilterSearch(100_000, 200),
  },
  {
    name: "glm.filter/1m",
    large: true,
    results: [
      "sqlite.raw-filter/1m",
      "glm.filter/1m-1pct",
      "glm.filter/1m-0.01pct",
      "kps.raw-embed/query",
      "glm.filter/1m-text-1pct",
      "glm.search/hybrid-1m",
      "kps.reingest/1m",
    ],
    run: () => benchFilterSearch(1_000_000, 200),
  },
  {
    name: "glm.search/10k",
    results: ["glm.search/exact-10k", "glm.search/hnsw-10k"],
    run: () => benchVectorSearch(10_000, 300),
  },
  {
    name: "glm.search/100k",
    results: ["glm.search/exact-100k", "glm.search/hnsw-100k"],
    run: () => benchVectorSearch(100_000, 150),
  },
  {
    name: "glm.search/1m",
    large: true,
    results: ["glm.search/exact-1m", "glm.search/hnsw-1m"],
    run: () => benchVectorSearch(1_000_000, 100),
  },
];
