/**
 * A bounded embedding cache in front of the model: keyed by (model id, partition,
 * SHA-256 of the text), least recently used evicted first, bounded in bytes with `lru-cache`. Re-indexing
 * unchanged code and repeated queries cost a hash instead of a model call. Inputs repeated within
 * one call are embedded once.
 * @module
 */
import { createHash } from "node:crypto";
import { LRUCache } from "lru-cache";
import { EMBEDDING_DEFAULTS } from "../../common/defaults.ts";
import type { Embedder, EmbedOptions } from "../ports.ts";
import { embedderPassThrough } from "./pass-through.ts";

/** Options of {@link createCachedEmbedder}. */
export interface CachedEmbedderOptions {
  /** Most bytes of cached vectors and keys (a 384-dim vector costs ~1.6 KB); 0 disables the cache. @default 33554432 (32 MiB) */
  maxBytes?: number;
  /**
   * The partition of the current call, read on every `embed` (the server passes the caller's
   * namespaces): entries are shared only within a partition, so one tenant cannot learn from
   * cache hits which texts another embedded. @default () => "" (one shared cache)
   */
  partitionOf?: () => string;
}

/** Counters of an {@link CachedEmbedder}. */
export interface EmbeddingCacheStats {
  /** Inputs answered from the cache. */
  hits: number;
  /** Inputs sent to the model. */
  misses: number;
  /** `hits / (hits + misses)`, 0 before the first input. */
  hitRatio: number;
  /** Vectors cached now. */
  entries: number;
  /** Bytes used now (vectors and keys). */
  bytes: number;
  /** Capacity in bytes. */
  maxBytes: number;
}

/** An {@link Embedder} with a cache and its counters. */
export interface CachedEmbedder extends Embedder {
  /** Current counters. */
  cacheStats(): EmbeddingCacheStats;
}

/**
 * Wraps `inner` with the cache. The returned vectors are shared with the cache: do not modify them.
 * @param inner - the model, usually behind {@link createBatchingEmbedder}.
 * @param options - capacity.
 */
export function createCachedEmbedder(inner: Embedder, options: CachedEmbedderOptions = {}): CachedEmbedder {
  const maxBytes = Math.max(0, options.maxBytes ?? EMBEDDING_DEFAULTS.cacheMb * 1024 * 1024);
  const cache =
    maxBytes > 0
      ? new LRUCache<string, Float32Array>({
          maxSize: maxBytes,
          sizeCalculation: (v, k) => v.byteLength + k.length * 2 + 64,
        })
      : undefined;
  const prefix = `${inner.modelId}\u0000`;
  let hits = 0;
  let misses = 0;

  const partitionOf = options.partitionOf ?? (() => "");
  const keyOf = (partition: string, text: string) =>
    createHash("sha256").update(prefix).update(partition).update("\u0000").update(text).digest("base64");

  return {
    ...embedderPassThrough(inner),
    async embed(texts: string[], opts?: EmbedOptions) {
      if (!cache) {
        misses += texts.length;
        return inner.embed(texts, opts);
      }
      const partition = partitionOf();
      const out = new Array<Float32Array>(texts.length);
      const missing = new Map<string, number[]>();
      const missingTexts: string[] = [];
      for (let i = 0; i < texts.length; i++) {
        const key = keyOf(partition, texts[i]!);
        const hit = cache.get(key);
        if (hit) {
          out[i] = hit;
          hits++;
          continue;
        }
        const at = missing.get(key);
        if (at) at.push(i);
        else {
          missing.set(key, [i]);
          missingTexts.push(texts[i]!);
        }
      }
      if (missingTexts.length === 0) return out;
      misses += missingTexts.length;
      let waiting = 0;
      for (const positions of missing.values()) waiting += positions.length;
      hits += waiting - missingTexts.length; // repeats within this call
      const vectors = await inner.embed(missingTexts, opts);
      let j = 0;
      for (const [key, positions] of missing) {
        const v = vectors[j++]!;
        cache.set(key, v);
        for (const p of positions) out[p] = v;
      }
      return out;
    },
    cacheStats() {
      const total = hits + misses;
      return {
        hits,
        misses,
        hitRatio: total ? hits / total : 0,
        entries: cache?.size ?? 0,
        bytes: cache?.calculatedSize ?? 0,
        maxBytes,
      };
    },
  };
}
