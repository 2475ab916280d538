/**
 * Default settings that two places need: the backends, when built without a value (tests, bench,
 * embedding DCSM as a library), and `runtime/config.ts`, whose `DCSM_*` variables default to the
 * same values. Limits enforced on requests live with their checks (`DEFAULT_KEM_LIMITS`,
 * `DEFAULT_SWM_LIMITS`, `DEFAULT_HYBRID`); everything else that has a default in both places is here.
 * @module
 */

/** GLM store defaults. */
export const GLM_DEFAULTS = Object.freeze({
  /** How long an idempotency key is remembered, ms (docs/storage.md "Idempotency keys"): 24 h. */
  idempotencyTtlMs: 24 * 3600 * 1000,
});

/** SWM backend defaults: working set, event history and the write-behind queue. */
export const SWM_DEFAULTS = Object.freeze({
  /** Most KEMs in the in-process working set. */
  maxEntries: 100_000,
  /** TTL of cached KEMs on Redis after their last write, ms: 30 days. */
  kemTtlMs: 30 * 24 * 3600 * 1000,
  /** Events kept for resuming subscribers (in process: exactly; Redis stream: approximately). */
  eventHistory: 10_000,
  /** Byte budget of the in-process event history: 64 MiB. */
  eventHistoryBytes: 64 * 1024 * 1024,
  /** Queued writes pending this long on a dead worker are taken over, ms. */
  claimIdleMs: 30_000,
  /** Largest write-behind batch to GLM. */
  writeBehindBatch: 100,
  /** Longest wait before a partial write-behind batch is sent, ms. */
  writeBehindDelayMs: 200,
});

/** Embedding defaults (model batching, queue, cache, OpenAI-compatible endpoint). */
export const EMBEDDING_DEFAULTS = Object.freeze({
  /**
   * Inputs per model call: 16 measured faster than 32 and 64 for the default model on 2 cores
   * (less padding per call; models/all-MiniLM-L6-v2/PROVENANCE.md).
   */
  batchSize: 16,
  /** Longest wait for a fuller model batch, ms. */
  maxWaitMs: 2,
  /** Most inputs waiting for the model; beyond, `ResourceExhausted`. */
  maxQueue: 8192,
  /** Embedding cache size, MiB (0 disables it). */
  cacheMb: 32,
  /** Most inputs per `/v1/embeddings` request. */
  openaiMaxInputs: 2048,
});
