/**
 * The KPS service (`dcsm.v1.KnowledgeProcessorService`; docs/architecture.md "Data flow"): decodes
 * raw text, splits it into chunks (on syntax boundaries for code and Markdown), embeds
 * every chunk and stores each as a KEM through GLM. Re-processing a document skips chunks whose
 * text and position are unchanged, reuses stored embeddings for moved text, and deletes the KEMs
 * of chunks that no longer exist.
 * @module
 */
import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  BatchProcessRawDataResponseSchema,
  type BatchProcessRawDataResult,
  BatchProcessRawDataResultSchema,
  type KnowledgeProcessorService,
  type ProcessRawDataRequest,
  type ProcessRawDataResponse,
} from "../../sdk/gen/dcsm/v1/kps_service_pb.ts";
import { LimitExceededError, mapErrors } from "../common/errors.ts";
import { itemErrorOf } from "../common/item-error.ts";
import { DEFAULT_KEM_LIMITS, type KemLimits } from "../common/limits.ts";
import { type IngestLimits, ingestDocument } from "./ingest-pipeline.ts";
import type { Embedder, KemSink } from "./ports.ts";

export { CHUNK_ID_NAMESPACE, chunkKemId, fitChunksToModel } from "./ingest-pipeline.ts";

/** Options of {@link createKpsService}. */
export interface KpsServiceOptions {
  /** The embedding model (or a promise of it while it loads). */
  embedder: Embedder | Promise<Embedder>;
  /** Where KEMs are stored (GLM). */
  sink: KemSink;
  /** KEM limits (dimension, batch size, content size). @default DEFAULT_KEM_LIMITS */
  limits?: KemLimits;
  /** Maximum raw input size in bytes. @default 8388608 (8 MiB) */
  maxRawBytes?: number;
  /** Chunk size used when the request gives 0, in characters (chunks over the model's token window are split further). @default 1200 */
  defaultChunkChars?: number;
  /** Chunk size for code and Markdown parsed by tree-sitter when the request gives 0, in characters. @default 600 */
  defaultCodeChunkChars?: number;
  /** Largest `max_chunk_chars` a request may ask for. @default 16000 */
  maxChunkChars?: number;
  /** Most documents in one `BatchProcessRawData` call. @default 256 */
  maxBatchDocuments?: number;
  /** Most raw bytes (sum of `raw_content`) in one `BatchProcessRawData` call. @default 16777216 (16 MiB) */
  maxBatchBytes?: number;
  /**
   * Documents of one `BatchProcessRawData` call processed at once; their chunks meet in the
   * embedding queue and their KEMs in the sink's group commit. @default 32
   */
  batchConcurrency?: number;
}

/**
 * Creates the KPS service implementation.
 *
 * Errors (Connect codes): `InvalidArgument` for empty, oversize, non-UTF-8 or non-text input and
 * bad chunk sizes; `FailedPrecondition` when the model cannot load; `Unavailable` when GLM stays
 * unreachable after retries; `Internal` when GLM rejects a chunk. `BatchProcessRawData` reports
 * these per document and fails as a whole only with `ResourceExhausted` (over `maxBatchDocuments`
 * or `maxBatchBytes`) or `FailedPrecondition` (no model).
 */
export function createKpsService(options: KpsServiceOptions): ServiceImpl<typeof KnowledgeProcessorService> {
  const limits = options.limits ?? DEFAULT_KEM_LIMITS;
  const maxRawBytes = options.maxRawBytes ?? 8 * 1024 * 1024;
  const defaultChunkChars = options.defaultChunkChars ?? 1200;
  const defaultCodeChunkChars = options.defaultCodeChunkChars ?? 600;
  const maxChunkChars = options.maxChunkChars ?? 16000;
  const maxBatchDocuments = options.maxBatchDocuments ?? 256;
  const maxBatchBytes = options.maxBatchBytes ?? 16 * 1024 * 1024;
  const batchConcurrency = Math.max(1, options.batchConcurrency ?? 32);
  const ingestLimits: IngestLimits = {
    kem: limits,
    maxRawBytes,
    defaultChunkChars,
    defaultCodeChunkChars,
    maxChunkChars,
  };

  /** One document, ProcessRawData semantics (ingest-pipeline.ts); errors are thrown as DCSM errors (mapped by the callers). */
  const processDocument = (req: ProcessRawDataRequest): Promise<ProcessRawDataResponse> =>
    ingestDocument(req, { embedder: options.embedder, sink: options.sink, limits: ingestLimits });

  return {
    processRawData: mapErrors(processDocument),
    batchProcessRawData: mapErrors(async (req) => {
      const docs = req.documents;
      if (docs.length > maxBatchDocuments)
        throw new LimitExceededError(`batch has ${docs.length} documents, over the limit of ${maxBatchDocuments}`);
      const bytes = docs.reduce((n, d) => n + d.rawContent.byteLength, 0);
      if (bytes > maxBatchBytes)
        throw new LimitExceededError(`batch has ${bytes} bytes of raw_content, over the limit of ${maxBatchBytes}`);
      await options.embedder; // no model: the whole call fails (FailedPrecondition), not each item
      const results = new Array<BatchProcessRawDataResult>(docs.length);
      let next = 0;
      const worker = async () => {
        while (next < docs.length) {
          const index = next++;
          try {
            const value = await processDocument(docs[index]!);
            results[index] = create(BatchProcessRawDataResultSchema, { index, outcome: { case: "response", value } });
          } catch (err) {
            results[index] = create(BatchProcessRawDataResultSchema, {
              index,
              outcome: { case: "error", value: itemErrorOf(err) },
            });
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(batchConcurrency, docs.length) }, worker));
      return create(BatchProcessRawDataResponseSchema, { results });
    }),
  };
}
