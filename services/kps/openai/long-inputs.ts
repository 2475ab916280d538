/**
 * Inputs longer than the model's token window (README "Embeddings for IDE tools"): either truncated to the window (the
 * default; what the model does anyway, now counted and reported) or split into windows that are
 * embedded separately and mean-pooled (weighted by tokens, then L2-normalized) into one vector.
 * Token counts are taken on a clipped prefix, so a huge input costs little tokenizer time.
 * @module
 */
import type { Embedder } from "../ports.ts";

/** What to do with an input longer than the window: cut it, or embed every window and pool them. */
export type LongInputMode = "truncate" | "pool";

/** Inputs prepared for the model: the pieces to embed and how to fold them back per input. */
export interface PreparedInputs {
  /** Texts to embed (one per input, or one per window of a pooled input). */
  pieces: string[];
  /** Per input: its first piece, piece count and per-piece weights (tokens); one piece means no pooling. */
  groups: { start: number; weights: number[] }[];
  /** Tokens the model reads in total, special tokens included (OpenAI `usage.prompt_tokens`). */
  tokens: number;
  /** Inputs cut at the window (in "truncate" mode) or at `maxWindows` windows (in "pool" mode). */
  truncated: number;
  /** Inputs embedded as several pooled windows. */
  pooled: number;
}

/** Characters per token never exceeded by WordPiece on real text; used to clip before counting. */
const CLIP_CHARS_PER_TOKEN = 24;

/**
 * Splits and counts inputs.
 * @param texts - the inputs.
 * @param embedder - the model (tokenizer and `maxTokens`).
 * @param mode - "truncate" or "pool".
 * @param maxWindows - most windows pooled per input (beyond: truncated). @default 16
 */
export function prepareInputs(
  texts: string[],
  embedder: Embedder,
  mode: LongInputMode,
  maxWindows = 16,
): PreparedInputs {
  const window = embedder.maxTokens;
  const tok = embedder.tokenizer;
  const pieces: string[] = [];
  const groups: PreparedInputs["groups"] = [];
  let tokens = 0;
  let truncated = 0;
  let pooled = 0;
  for (const text of texts) {
    const limitTokens = mode === "pool" ? window * maxWindows : window;
    const clipAt = (limitTokens + 2) * CLIP_CHARS_PER_TOKEN;
    let body = text;
    let ids = tok.encode(text.length > clipAt ? text.slice(0, clipAt) : text);
    if (text.length > clipAt && ids.length <= limitTokens)
      ids = tok.encode(text); // unusual text: count it all
    else if (text.length > clipAt) body = text.slice(0, clipAt);
    if (ids.length <= window) {
      groups.push({ start: pieces.length, weights: [ids.length] });
      pieces.push(text);
      tokens += ids.length;
      continue;
    }
    if (mode === "truncate") {
      truncated++;
      groups.push({ start: pieces.length, weights: [window] });
      pieces.push(body);
      tokens += window;
      continue;
    }
    // Pool: windows of (window - 2) content tokens, each embedded with its own [CLS]/[SEP].
    const content = ids.slice(1, -1);
    const per = window - 2;
    const count = Math.min(maxWindows, Math.ceil(content.length / per));
    if (content.length > per * maxWindows) truncated++;
    pooled++;
    const start = pieces.length;
    const weights: number[] = [];
    for (let w = 0; w < count; w++) {
      const part = content.slice(w * per, (w + 1) * per);
      pieces.push(tok.decode(part));
      weights.push(part.length + 2);
      tokens += part.length + 2;
    }
    groups.push({ start, weights });
  }
  return { pieces, groups, tokens, truncated, pooled };
}

/**
 * Folds piece vectors back into one normalized vector per input (token-weighted mean for pooled inputs).
 * @param vectors - one vector per piece, in `prepared.pieces` order.
 * @param prepared - from {@link prepareInputs}.
 */
export function combinePieces(vectors: Float32Array[], prepared: PreparedInputs): Float32Array[] {
  return prepared.groups.map(({ start, weights }) => {
    if (weights.length === 1) return vectors[start]!;
    const dim = vectors[start]!.length;
    const out = new Float32Array(dim);
    weights.forEach((w, k) => {
      const v = vectors[start + k]!;
      for (let i = 0; i < dim; i++) out[i]! += v[i]! * w;
    });
    let norm = 0;
    for (let i = 0; i < dim; i++) norm += out[i]! * out[i]!;
    norm = Math.sqrt(norm) || 1;
    for (let i = 0; i < dim; i++) out[i]! /= norm;
    return out;
  });
}
