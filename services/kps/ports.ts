/**
 * Ports of the KPS service: the embedding model and the sink that stores KEMs in GLM.
 * @module
 */

import type { JsonObject, MessageInitShape } from "@bufbuild/protobuf";
import type {
  BatchStoreKEMsRequest,
  BatchStoreKEMsRequestSchema,
  BatchStoreKEMsResponse,
} from "../../sdk/gen/dcsm/v1/glm_service_pb.ts";

/** The model's tokenizer, for token counts, token-id inputs (`/v1/embeddings`) and window splitting. */
export interface EmbedderTokenizer {
  /** Number of token ids the tokenizer knows; valid ids are `0 … vocabSize - 1`. */
  readonly vocabSize: number;
  /** Token ids of `text`, with the model's special tokens when `special` (the default). */
  encode(text: string, special?: boolean): number[];
  /** Text of token ids, special tokens skipped. Ids must be in `0 … vocabSize - 1`. */
  decode(ids: number[]): string;
}

/** Per-call options of {@link Embedder.embed}. */
export interface EmbedOptions {
  /** Aborting drops the call's inputs that have not reached the model yet and rejects the call. */
  signal?: AbortSignal;
}

import type { ModelProfile } from "./embedder/model-profile.ts";

/**
 * A sentence-embedding model: turns text content into vector embeddings.
 * Embeddings are mean-pooled over tokens and L2-normalized.
 */
export interface Embedder {
  /** Model id, e.g. "all-MiniLM-L6-v2". */
  readonly modelId: string;
  /** Embedding dimension (384 for the default model). */
  readonly dimension: number;
  /** Maximum tokens the model reads per input; longer inputs are truncated. */
  readonly maxTokens: number;
  /**
   * Embeds texts, returning one normalized `Float32Array` of `dimension` floats per text, in order.
   * Errors: `PreconditionError` (→ `FailedPrecondition`) when the model cannot be loaded;
   * wrappers add `QueueFullError` (→ `ResourceExhausted`, HTTP 429) and the abort reason.
   * Callers must not modify the returned arrays.
   */
  embed(texts: string[], options?: EmbedOptions): Promise<Float32Array[]>;
  /** The model's tokenizer. */
  readonly tokenizer: EmbedderTokenizer;
  /** Number of tokens of each text (for usage reporting), without truncation. */
  countTokens(texts: string[]): Promise<number[]>;
  /** Releases the model. */
  dispose(): Promise<void>;
  /** Query/document instructions and pooling of the model (absent: none, mean pooling). */
  readonly profile?: ModelProfile;
}

/** A KEM already stored for a document, as KPS needs it to skip unchanged chunks. */
export interface StoredChunk {
  /** KEM id. */
  id: string;
  /** Its metadata (`content_hash`, `start_line`, …). */
  metadata: JsonObject;
  /** Its embedding, or undefined when it has none. */
  embedding: Float32Array | undefined;
}

/** Where KPS stores the KEMs it makes: GLM, in-process or remote. */
export interface KemSink {
  /**
   * Stores a batch. Errors: `ConnectError` with `Unavailable` after retries when GLM is down.
   */
  batchStore(request: MessageInitShape<typeof BatchStoreKEMsRequestSchema>): Promise<BatchStoreKEMsResponse>;
  /**
   * Every KEM whose metadata matches every `key: value` of `filters` (GLM RetrieveKEMs with
   * metadata filters, all pages). Errors: as {@link batchStore}.
   */
  findByMetadata(filters: Record<string, string>): Promise<StoredChunk[]>;
  /** Deletes KEMs (GLM DeleteKEM each; unknown ids are ignored). Errors: as {@link batchStore}. */
  deleteMany(ids: string[]): Promise<void>;
}

export type { BatchStoreKEMsRequest };
