/**
 * The embedding stack the server hands to GLM, KPS and `/v1/embeddings`
 * (docs/decisions/0008-bounded-embedding-queue.md): the model behind
 * a bounded micro-batching queue, behind a bounded cache, with warm-up and readiness, and the
 * OpenAI-compatible API on top. Built from configuration here so `runtime/server.ts` only wires it.
 * @module
 */
import { type BatchingStats, createBatchingEmbedder } from "../../services/kps/embedder/batching-embedder.ts";
import { createCachedEmbedder, type EmbeddingCacheStats } from "../../services/kps/embedder/cached-embedder.ts";
import { warmUpEmbedder } from "../../services/kps/embedder/warm-up.ts";
import { createOpenAiApi, type OpenAiApi } from "../../services/kps/openai/openai-api.ts";
import type { Embedder } from "../../services/kps/ports.ts";
import { currentCachePartition } from "../auth/caller-context.ts";
import type { DcsmConfig } from "../config.ts";
import type { Logger } from "../logger.ts";

/** Snapshot of the stack for `/health` and metrics. */
export interface EmbeddingStackStats {
  /** True once warm-up finished (or was disabled). */
  ready: boolean;
  /** Warm-up wall time in ms (0 when skipped or done earlier in this process). */
  warmupMs: number;
  /** Queue counters. */
  queue: BatchingStats;
  /** Cache counters, including `hitRatio`. */
  cache: EmbeddingCacheStats;
  /** Background collections while batches ran: `full` (synchronous, RSS had grown) and `hinted` (asynchronous). */
  /** Background collections: full, hinted, and full ones put off while the server was refusing work. */
  gc: { full: number; hinted: number; deferred: number };
}

/** The built stack. */
export interface EmbeddingStack {
  /** Cached, batched model: give this to GLM and KPS. */
  embedder: Embedder;
  /** The `/v1/*` API. */
  openai: OpenAiApi;
  /** Runs warm-up (once per model instance) and marks the stack ready; resolves when done. */
  warmUp(): Promise<void>;
  /** Current counters. */
  stats(): EmbeddingStackStats;
  /**
   * While `busy()` is true (the server is refusing work: docs/overload.md), the background
   * collector postpones its full collections, up to {@link FULL_GC_RSS_GROWTH_BUSY} of growth.
   */
  deferFullCollectionWhile(busy: () => boolean): void;
  /** Stops the background collector. */
  close(): void;
}

/** How often a busy stack asks for a garbage collection, in ms. */
const GC_EVERY_MS = 2000;
/** RSS growth since the last full collection above which the next one is full (synchronous), bytes. */
const FULL_GC_RSS_GROWTH = 64 * 1024 * 1024;
/** RSS growth above which a full collection runs even while the server is refusing work, bytes. */
export const FULL_GC_RSS_GROWTH_BUSY = 4 * FULL_GC_RSS_GROWTH;

/**
 * Builds the stack around a loaded model.
 * @param model - the raw model.
 * @param config - batch size (`DCSM_EMBED_BATCH`), wait, queue, cache, warm-up, API keys, limits.
 * @param log - logger for warm-up and 5xx causes.
 * @param authorize - the server's credential check for `/v1/*` (docs/security.md); without it, `config.apiKeys`.
 */
export function createEmbeddingStack(
  model: Embedder,
  config: DcsmConfig,
  log: Logger,
  authorize?: (req: Request) => Promise<boolean>,
): EmbeddingStack {
  const batching = createBatchingEmbedder(model, {
    maxBatch: config.embedBatchSize,
    maxWaitMs: config.embedMaxWaitMs,
    maxQueue: config.embedQueue,
  });
  // Partitioned by the caller's namespaces, so tenants share no cache entries (no timing side channel).
  const cached = createCachedEmbedder(batching, {
    maxBytes: config.embedCacheMb * 1024 * 1024,
    partitionOf: currentCachePartition,
  });
  let ready = config.warmup === "off";
  let warmupMs = 0;
  const openai = createOpenAiApi({
    embedder: cached,
    apiKeys: config.apiKeys,
    authorize,
    maxInputs: config.openaiMaxInputs,
    longInput: config.longInput,
    ready: () => ready,
    onError: (err) => log.error({ err }, "/v1 request failed"),
  });
  // Model outputs are large short-lived buffers the collector is slow to reclaim on its own: without
  // this, RSS kept rising under load. At most once per GC_EVERY_MS while batches run: a full,
  // synchronous collection when RSS grew by FULL_GC_RSS_GROWTH since the last one, else only an
  // asynchronous hint. A full collection stops the event loop (80-120 ms measured under the load
  // test), and every request waits through it: done every 2 s it was 19% of the server's main
  // thread and the longest stalls in the load test's overload phase (docs/overload.md; the queue itself: docs/decisions/0008-bounded-embedding-queue.md).
  // While the server is full, every refusal would wait through a full collection too: it is put
  // off (asynchronous hints go on) until the server has room or RSS grew FULL_GC_RSS_GROWTH_BUSY.
  let seen = 0;
  let rssAfterFull = process.memoryUsage.rss();
  let busy: () => boolean = () => false;
  let fullDue = false;
  const gc = { full: 0, hinted: 0, deferred: 0 };
  const gcTimer = setInterval(() => {
    const batches = batching.stats().batches;
    if (batches === seen && !fullDue) return;
    seen = batches;
    const growth = process.memoryUsage.rss() - rssAfterFull;
    fullDue = growth >= FULL_GC_RSS_GROWTH;
    const deferring = fullDue && growth < FULL_GC_RSS_GROWTH_BUSY && busy();
    if (deferring) gc.deferred++;
    if (fullDue && !deferring) {
      fullDue = false;
      Bun.gc(true);
      gc.full++;
      rssAfterFull = process.memoryUsage.rss();
    } else {
      Bun.gc(false);
      gc.hinted++;
    }
  }, GC_EVERY_MS);
  gcTimer.unref();
  return {
    deferFullCollectionWhile(check) {
      busy = check;
    },
    close: () => clearInterval(gcTimer),
    embedder: cached,
    openai,
    async warmUp() {
      if (ready) return;
      const report = await warmUpEmbedder(model, config.warmup === "full" ? config.embedBatchSize : 1);
      warmupMs = report.ms;
      ready = true;
      log.info({ ms: Math.round(report.ms), inputs: report.inputs }, "embedding model warmed up");
    },
    stats: () => ({ ready, warmupMs, queue: batching.stats(), cache: cached.cacheStats(), gc: { ...gc } }),
  };
}
