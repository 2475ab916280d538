/**
 * Warm-up of the embedding model before a server reports ready
 * (docs/decisions/0008-bounded-embedding-queue.md): runs the largest batch the queue will ever send
 * (`maxBatch` inputs at the full token window) and a few small ones, so ONNX Runtime sizes its
 * memory arena and compiles its kernels before the first real request — and so memory measured
 * after warm-up is the steady state.
 * @module
 */
import type { Embedder } from "../ports.ts";

/** Result of {@link warmUpEmbedder}. */
export interface WarmUpReport {
  /** Wall time of the warm-up in ms (0 when this model was already warmed in this process). */
  ms: number;
  /** Inputs embedded. */
  inputs: number;
}

const warmed = new WeakMap<Embedder, { maxBatch: number; run: Promise<WarmUpReport> }>();

/**
 * Warms `embedder` once per instance and batch size (later calls return the first report with
 * `ms` 0; a larger `maxBatch` than any before runs again).
 * @param embedder - the raw model (not the cache: cached inputs would skip the model).
 * @param maxBatch - the largest batch the model will see. @default 32
 * @throws whatever the model throws (e.g. `PreconditionError` when it cannot run).
 */
export function warmUpEmbedder(embedder: Embedder, maxBatch = 32): Promise<WarmUpReport> {
  const done = warmed.get(embedder);
  if (done && done.maxBatch >= maxBatch) return done.run.then((r) => ({ ...r, ms: 0 }));
  const run = (async () => {
    const t0 = performance.now();
    const words = ["memory", "agent", "index", "vector", "query", "lock", "event", "store"];
    // Enough words to overflow the window: every input is truncated to exactly maxTokens.
    const long = Array.from({ length: embedder.maxTokens + 8 }, (_, i) => words[i % words.length]).join(" ");
    const full = Array.from({ length: maxBatch }, (_, i) => `${i} ${long}`);
    const mid = full.map((t) => t.slice(0, 200)); // a full batch of mid-length inputs
    const small = ["warm-up", "where are locks released?", `${long.slice(0, 400)}`];
    await embedder.embed(full);
    await embedder.embed(mid);
    for (const s of small) await embedder.embed([s]);
    await embedder.embed(small);
    return { ms: performance.now() - t0, inputs: full.length * 2 + small.length * 2 };
  })();
  warmed.set(embedder, { maxBatch, run });
  run.catch(() => warmed.delete(embedder));
  return run;
}
