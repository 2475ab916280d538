/**
 * Prometheus metrics read from component stats at scrape time (README "Metrics and logs"): GLM's
 * vector index, the embedding queue and cache, SWM's id-lookup hit ratio, working set and
 * write-behind queue. Each metric's `collect()` reads the live `stats()` of its component, so
 * nothing is sampled in the background.
 * @module
 */
import { Counter, Gauge, type Registry } from "prom-client";
import type { VectorIndexStats } from "../../services/glm/ports.ts";
import type { WorkingSet, WorkingSetStats } from "../../services/swm/ports.ts";
import { hasLookupStats } from "../../services/swm/working-set/lookup-stats.ts";
import type { WriteBehindStats } from "../../services/write-behind/worker.ts";
import type { Logger } from "../logger.ts";
import type { EmbeddingStackStats } from "../parts/embedding-stack.ts";

/** Components whose stats are exported; each is optional. */
export interface StatSources {
  /** GLM's vector index. */
  vectorIndex?: { stats(): VectorIndexStats };
  /** The embedding stack (queue and cache). */
  embedding?: { stats(): EmbeddingStackStats };
  /** Inputs per model call (`DCSM_EMBED_BATCH`), the denominator of the batch fill ratio. */
  embedBatchSize?: number;
  /** SWM: working set (lookup counters when wrapped by `countLookups`) and write-behind stats. */
  swm?: { backend: { workingSet: WorkingSet; events?: object }; writeBehindStats(): Promise<WriteBehindStats> };
}

/** Caches an async read for `ttlMs` so the metrics of one scrape share one call. */
function shared<T>(read: () => Promise<T>, ttlMs = 200): () => Promise<T> {
  let at = -Infinity;
  let last: Promise<T> | undefined;
  return () => {
    const now = performance.now();
    if (!last || now - at > ttlMs) {
      at = now;
      last = read();
      last.catch(() => (last = undefined));
    }
    return last;
  };
}

type Collect<M> = (this: M) => void | Promise<void>;

/**
 * Registers the stats-backed metrics on `registry` (names in README "Metrics and logs"): gauges for
 * levels (`dcsm_glm_vector_index_size`, `dcsm_embedding_queue_depth`, …) and counters for the
 * components' own since-start totals (`dcsm_embedding_batches_total`, …), refreshed at each scrape.
 * A source that fails during a scrape (e.g. Redis down) keeps its previous values and logs a warning.
 * @param registry - the server's registry.
 * @param sources - components to read.
 * @param log - for scrape-time read failures.
 */
export function registerStatMetrics(registry: Registry, sources: StatSources, log: Logger): void {
  const registers = [registry];
  const gauge = (name: string, help: string, collect: Collect<Gauge<string>>, labelNames: string[] = []) =>
    new Gauge({ name, help, labelNames, registers, collect });
  const counter = (name: string, help: string, collect: Collect<Counter<string>>, labelNames: string[] = []) =>
    new Counter({ name, help, labelNames, registers, collect });
  /** Sets a counter to a total kept by the component. */
  const setTotal = (c: Counter<string>, value: number, labels?: Record<string, string>) => {
    c.reset();
    if (labels) c.inc(labels, value);
    else c.inc(value);
  };
  const guarded = <M>(what: string, fn: Collect<M>): Collect<M> =>
    async function (this: M) {
      try {
        await fn.call(this);
      } catch (err) {
        log.warn({ err, source: what }, "metrics: reading stats failed");
      }
    };

  const { vectorIndex, embedding, swm } = sources;
  if (vectorIndex) {
    gauge(
      "dcsm_glm_vector_index_size",
      "Vectors searchable in GLM's vector index.",
      function () {
        const s = vectorIndex.stats();
        this.reset();
        this.set({ kind: s.kind }, s.size);
      },
      ["kind"],
    );
    gauge(
      "dcsm_glm_vector_index_unindexed",
      "Vectors searchable only through the exact tail (not yet in the ANN graph).",
      function () {
        const s = vectorIndex.stats();
        this.reset();
        this.set({ kind: s.kind }, s.unindexed);
      },
      ["kind"],
    );
  }

  if (embedding) {
    const batchSize = sources.embedBatchSize ?? 0;
    const q = () => embedding.stats().queue;
    const c = () => embedding.stats().cache;
    gauge("dcsm_embedding_queue_depth", "Inputs waiting for the embedding model.", function () {
      this.set(q().queued);
    });
    gauge("dcsm_embedding_queue_capacity", "Most inputs the embedding queue holds (DCSM_EMBED_QUEUE).", function () {
      this.set(q().maxQueue);
    });
    counter("dcsm_embedding_batches_total", "Embedding model calls.", function () {
      setTotal(this, q().batches);
    });
    counter("dcsm_embedding_inputs_total", "Inputs embedded by the model.", function () {
      setTotal(this, q().inputs);
    });
    counter("dcsm_embedding_rejected_total", "Embedding calls refused because the queue was full.", function () {
      setTotal(this, q().rejected);
    });
    gauge("dcsm_embedding_batch_mean_inputs", "Mean inputs per model call since start.", function () {
      this.set(q().meanBatch);
    });
    gauge(
      "dcsm_embedding_batch_fill_ratio",
      "Mean batch fill since start: mean inputs per model call / DCSM_EMBED_BATCH (0..1).",
      function () {
        this.set(batchSize > 0 ? Math.min(1, q().meanBatch / batchSize) : 0);
      },
    );
    counter(
      "dcsm_embedding_cache_lookups_total",
      "Embedding cache lookups by result (hit, miss).",
      function () {
        const s = c();
        this.reset();
        this.inc({ result: "hit" }, s.hits);
        this.inc({ result: "miss" }, s.misses);
      },
      ["result"],
    );
    gauge("dcsm_embedding_cache_hit_ratio", "Embedding cache hits / lookups since start.", function () {
      this.set(c().hitRatio);
    });
    gauge("dcsm_embedding_cache_bytes", "Bytes held by the embedding cache.", function () {
      this.set(c().bytes);
    });
  }

  if (swm) {
    const ws = swm.backend.workingSet;
    const wsStats = shared<WorkingSetStats>(() => ws.stats());
    const wb = shared<WriteBehindStats>(() => swm.writeBehindStats());
    if (hasLookupStats(ws)) {
      counter(
        "dcsm_swm_lookups_total",
        "SWM id lookups (QuerySWM by ids) by result (hit, miss).",
        function () {
          const s = ws.lookupStats();
          this.reset();
          this.inc({ result: "hit" }, s.hits);
          this.inc({ result: "miss" }, s.misses);
        },
        ["result"],
      );
      gauge("dcsm_swm_lookup_hit_ratio", "SWM id lookup hits / lookups since start.", function () {
        this.set(ws.lookupStats().hitRatio);
      });
    }
    gauge(
      "dcsm_swm_working_set_kems",
      "KEMs cached in SWM's working set.",
      guarded("swm working set", async function () {
        this.set((await wsStats()).kems);
      }),
    );
    counter(
      "dcsm_swm_evictions_total",
      "KEMs evicted from SWM's working set (seen by this process).",
      guarded("swm working set", async function () {
        setTotal(this, (await wsStats()).evictions);
      }),
    );
    const events = swm.backend.events as { historyBytes?: () => number } | undefined;
    if (typeof events?.historyBytes === "function") {
      const history = events.historyBytes.bind(events);
      gauge(
        "dcsm_swm_event_history_bytes",
        "Bytes held by the in-process SWM event history (bounded by DCSM_SWM_EVENT_HISTORY_BYTES).",
        function () {
          this.set(history());
        },
      );
    }
    gauge(
      "dcsm_swm_write_behind_queue_depth",
      "KEMs queued for write-behind to GLM and not yet acknowledged.",
      guarded("swm write-behind", async function () {
        this.set((await wb()).depth);
      }),
    );
    gauge(
      "dcsm_swm_write_behind_oldest_age_seconds",
      "Age of the oldest queued write-behind entry in seconds (0 when empty).",
      guarded("swm write-behind", async function () {
        this.set((await wb()).oldestAgeMs / 1000);
      }),
    );
    counter(
      "dcsm_swm_write_behind_persisted_total",
      "KEMs stored in GLM by this process's write-behind worker.",
      guarded("swm write-behind", async function () {
        setTotal(this, (await wb()).persisted);
      }),
    );
    counter(
      "dcsm_swm_write_behind_rejected_total",
      "Queued KEMs GLM rejected as invalid (dropped and logged).",
      guarded("swm write-behind", async function () {
        setTotal(this, (await wb()).rejected);
      }),
    );
    counter(
      "dcsm_swm_write_behind_failed_attempts_total",
      "Failed write-behind calls to GLM (each retried).",
      guarded("swm write-behind", async function () {
        setTotal(this, (await wb()).failedAttempts);
      }),
    );
  }
}
