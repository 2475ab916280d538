/**
 * The input stages of KPS's ingestion (stages 1–3 of ingest-pipeline.ts): validate the request
 * against the limits, decode its text as UTF-8, and chunk it on syntax or line boundaries into
 * pieces that fit the model's token window. Errors are `InvalidInputError` (→ `InvalidArgument`).
 * @module
 */
import type { ProcessRawDataRequest } from "../../sdk/gen/dcsm/v1/kps_service_pb.ts";
import { isTextContentType } from "../common/content-types.ts";
import { InvalidInputError } from "../common/errors.ts";
import type { KemLimits } from "../common/limits.ts";
import { chunkDocument } from "./chunking/chunk-document.ts";
import type { CodeChunk } from "./chunking/code-chunker.ts";
import { chunkText, type TextChunk } from "./chunking/text-chunker.ts";
import type { Embedder } from "./ports.ts";

/** Request limits of the pipeline (the service's options, defaults applied). */
export interface IngestLimits {
  /** KEM limits (metadata size, batch size). */
  kem: KemLimits;
  /** Largest `raw_content`, in bytes. */
  maxRawBytes: number;
  /** Chunk size when the request gives 0, in characters. */
  defaultChunkChars: number;
  /** Chunk size for parsed code and Markdown when the request gives 0, in characters. */
  defaultCodeChunkChars: number;
  /** Largest `max_chunk_chars` a request may ask for. */
  maxChunkChars: number;
}

/**
 * Stage 1, validation: non-empty content within `maxRawBytes`, a text content type, and
 * `max_chunk_chars` 0 or 16…`maxChunkChars`.
 * @returns the content type ("text/plain" when the request gives none).
 * @throws InvalidInputError naming the field at fault.
 */
export function validateRequest(req: ProcessRawDataRequest, limits: IngestLimits): string {
  if (req.rawContent.byteLength === 0) throw new InvalidInputError("raw_content is empty");
  if (req.rawContent.byteLength > limits.maxRawBytes) {
    throw new InvalidInputError(
      `raw_content is ${req.rawContent.byteLength} bytes, over the limit of ${limits.maxRawBytes}`,
    );
  }
  const contentType = req.contentType || "text/plain";
  if (!isTextContentType(contentType))
    throw new InvalidInputError(
      `content_type ${JSON.stringify(contentType)} is not a text type; KPS processes text only`,
    );
  if (
    req.maxChunkChars < 0 ||
    req.maxChunkChars > limits.maxChunkChars ||
    (req.maxChunkChars > 0 && req.maxChunkChars < 16)
  ) {
    throw new InvalidInputError(`max_chunk_chars must be 0 (default) or between 16 and ${limits.maxChunkChars}`);
  }
  return contentType;
}

/** The strict UTF-8 decoder of {@link decodeText}. */
const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Stage 2, decoding: the content as UTF-8 text.
 * @throws InvalidInputError when the bytes are not valid UTF-8.
 */
export function decodeText(raw: Uint8Array): string {
  try {
    return utf8.decode(raw);
  } catch {
    throw new InvalidInputError("raw_content is not valid UTF-8 text");
  }
}

/**
 * Re-splits every chunk longer than the model's token window (the model would silently truncate
 * it, leaving its tail unsearchable), halving the character budget until each piece fits.
 * Line ranges are kept relative to the document; chunk indexes are renumbered in order.
 * @param chunks - chunks from {@link chunkText}.
 * @param embedder - the model (its tokenizer and `maxTokens`).
 */
export async function fitChunksToModel<C extends TextChunk>(chunks: C[], embedder: Embedder): Promise<C[]> {
  const out: C[] = [];
  const counts = await embedder.countTokens(chunks.map((c) => c.text));
  for (let i = 0; i < chunks.length; i++) {
    const c = chunks[i]!;
    if (counts[i]! <= embedder.maxTokens || c.text.length <= 64) {
      out.push(c);
      continue;
    }
    const pieces = chunkText(c.text, { maxChars: Math.max(32, Math.floor(c.text.length / 2)) }).map((p) => ({
      ...c,
      ...p,
      startLine: p.startLine + c.startLine - 1,
      endLine: p.endLine + c.startLine - 1,
    }));
    out.push(...(await fitChunksToModel(pieces, embedder)));
  }
  return out.map((c, index) => ({ ...c, index }));
}

/** A document split into chunks that fit the model. */
export interface ChunkedText {
  /** The chunks, indexed from 0. */
  chunks: CodeChunk[];
  /** The document's language (metadata `language`). */
  language: string;
}

/**
 * Stage 3, chunking: on syntax boundaries for code and Markdown (by path, else content type),
 * else by lines, with the request's size or the defaults, then fitted to the model's token window.
 * @throws InvalidInputError when the text is only whitespace.
 */
export async function chunkForModel(
  text: string,
  req: ProcessRawDataRequest,
  contentType: string,
  embedder: Embedder,
  limits: IngestLimits,
): Promise<ChunkedText> {
  const doc = await chunkDocument(text, {
    sourcePath: req.sourcePath,
    contentType,
    maxChars: req.maxChunkChars || limits.defaultChunkChars,
    maxCodeChars: req.maxChunkChars || limits.defaultCodeChunkChars,
  });
  const chunks = await fitChunksToModel(doc.chunks, embedder);
  if (chunks.length === 0) throw new InvalidInputError("raw_content has no text (only whitespace)");
  return { chunks, language: doc.language };
}
