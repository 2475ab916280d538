/**
 * Ports of the KPS service: the embedding model and the sink that stores KEMs in GLM.
 * @module
 */
import type { BatchStoreKEMsRequest, BatchStoreKEMsResponse } from "../../sdk/gen/dcsm/v1/glm_service_pb.ts";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { BatchStoreKEMsRequestSchema } from "../../sdk/gen/dcsm/v1/glm_service_pb.ts";

/**
 * A sentence-embedding model (seed 002 3.3: "generation of vector embeddings for text content").
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
   * Errors: `PreconditionError` (→ `FailedPrecondition`) when the model cannot be loaded.
   */
  embed(texts: string[]): Promise<Float32Array[]>;
  /** Number of tokens of each text (for usage reporting), without truncation. */
  countTokens(texts: string[]): Promise<number[]>;
  /** Releases the model. */
  dispose(): Promise<void>;
}

/** Where KPS stores the KEMs it makes: GLM's BatchStoreKEMs, in-process or remote. */
export interface KemSink {
  /**
   * Stores a batch. Errors: `ConnectError` with `Unavailable` after retries when GLM is down.
   */
  batchStore(request: MessageInitShape<typeof BatchStoreKEMsRequestSchema>): Promise<BatchStoreKEMsResponse>;
}

export type { BatchStoreKEMsRequest };
