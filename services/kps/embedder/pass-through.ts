/**
 * The part of an {@link Embedder} that wrappers pass through unchanged.
 * @module
 */
import type { Embedder } from "../ports.ts";

/**
 * Everything of `inner` but `embed`, for a wrapper that changes only how texts are embedded
 * (batching, caching): model id, shape, tokenizer, token counts and disposal pass through.
 */
export function embedderPassThrough(inner: Embedder): Omit<Embedder, "embed"> {
  return {
    modelId: inner.modelId,
    profile: inner.profile,
    dimension: inner.dimension,
    maxTokens: inner.maxTokens,
    tokenizer: inner.tokenizer,
    countTokens: (texts) => inner.countTokens(texts),
    dispose: () => inner.dispose(),
  };
}
