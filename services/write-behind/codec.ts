/**
 * Serialization of queued write-behind records (SWM's SQLite and Redis queues, KPS's outbox).
 *
 * Current format (version 1), little-endian, chosen by measurement against protobuf and msgpackr
 * (`bun run bench -- codec`, bench/README.md):
 *
 * | bytes | field |
 * |---|---|
 * | 1 | version = 0x01 |
 * | 1 | flags: bit 0 = has embedding |
 * | 8 | `createdAtUs` (float64: µs since epoch are exact up to 2^53) |
 * | 8 | `updatedAtUs` (float64) |
 * | 4 + n | `id` (u32 byte length, UTF-8) |
 * | 4 + n | `contentType` (u32 byte length, UTF-8) |
 * | 4 + n | `content` (u32 byte length, raw bytes) |
 * | 4 + n | `metadata` (u32 byte length, UTF-8 JSON) |
 * | 4 + 4·d | embedding (u32 dimension, float32 values bit for bit: NaN payloads, ±0, subnormals) |
 *
 * Version bytes 0x01–0x07 are protobuf tags of field number 0, which protobuf never writes, so
 * data queued by earlier versions (the wire `KEM` protobuf, whose first byte is the tag of field
 * 1, `id`) is told apart by its first byte and still decodes.
 *
 * The Redis working set's PUT script writes this format too, for the KEMs a publish with
 * write-behind queues (`services/swm/working-set/redis-scripts.ts`); a change of format changes
 * that script as well (tests/services/write-behind/write-behind-queues.test.ts compares its
 * bytes with {@link encodeRecord}'s).
 * @module
 */
import { fromBinary } from "@bufbuild/protobuf";
import { type KEM, KEMSchema } from "../../sdk/gen/dcsm/v1/kem_pb.ts";
import type { KemRecord } from "../common/kem-record.ts";
import { timestampToMicros } from "../common/time.ts";

/** The format {@link encodeRecord} writes. */
export const RECORD_FORMAT_VERSION = 1;

const HEADER = 18;
const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });
const LITTLE_ENDIAN = new Uint8Array(new Float32Array([1]).buffer)[3] === 0x3f;

/**
 * Raised for bytes that are no queued record this build can read: truncated, bad UTF-8, not a
 * record at all, or (`newerVersion`) a format version written by a newer DCSM sharing the queue.
 */
export class RecordFormatError extends Error {
  override name = "RecordFormatError";
  /** The bytes carry a format version above {@link RECORD_FORMAT_VERSION} (readable by a newer build). */
  readonly newerVersion: boolean;
  constructor(message: string, options?: { cause?: unknown; newerVersion?: boolean }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.newerVersion = options?.newerVersion ?? false;
  }
}

/**
 * Encodes a record in the current format. Every field round-trips exactly through
 * {@link decodeRecord} (metadata as JSON, the form GLM stores it in).
 * @returns a fresh byte array owning its memory.
 */
export function encodeRecord(rec: KemRecord): Uint8Array {
  const metadata = JSON.stringify(rec.metadata ?? {});
  const emb = rec.embedding;
  const embBytes = emb ? emb.length * 4 : 0;
  // Upper bound: UTF-16 code units encode to at most 3 UTF-8 bytes each.
  const max =
    HEADER + 20 + 3 * (rec.id.length + rec.contentType.length + metadata.length) + rec.content.byteLength + embBytes;
  const out = new Uint8Array(max);
  const view = new DataView(out.buffer);
  out[0] = RECORD_FORMAT_VERSION;
  out[1] = emb ? 1 : 0;
  view.setFloat64(2, rec.createdAtUs, true);
  view.setFloat64(10, rec.updatedAtUs, true);
  let pos = HEADER;
  const text = (s: string) => {
    const { written } = encoder.encodeInto(s, out.subarray(pos + 4));
    view.setUint32(pos, written, true);
    pos += 4 + written;
  };
  text(rec.id);
  text(rec.contentType);
  view.setUint32(pos, rec.content.byteLength, true);
  out.set(rec.content, pos + 4);
  pos += 4 + rec.content.byteLength;
  text(metadata);
  view.setUint32(pos, emb ? emb.length : 0, true);
  pos += 4;
  if (emb) {
    if (LITTLE_ENDIAN) out.set(new Uint8Array(emb.buffer, emb.byteOffset, embBytes), pos);
    else for (let i = 0; i < emb.length; i++) view.setFloat32(pos + 4 * i, emb[i]!, true);
    pos += embBytes;
  }
  return pos === max ? out : out.slice(0, pos);
}

/**
 * Decodes bytes made by {@link encodeRecord}, or by earlier versions (the wire `KEM` protobuf).
 * The record owns its memory (no views into `bytes`).
 * @throws RecordFormatError for truncated or unknown data.
 */
export function decodeRecord(bytes: Uint8Array): KemRecord {
  if (bytes.byteLength === 0) throw new RecordFormatError("empty queued record");
  const version = bytes[0]!;
  if (version > 7) {
    // Queued before version bytes: the wire `KEM` protobuf.
    try {
      return kemToRecord(fromBinary(KEMSchema, bytes));
    } catch (err) {
      throw new RecordFormatError(
        `queued record is neither format ${RECORD_FORMAT_VERSION} nor a protobuf KEM: ${(err as Error).message}`,
        { cause: err },
      );
    }
  }
  if (version !== RECORD_FORMAT_VERSION) {
    throw new RecordFormatError(
      `queued record has format version ${version}; this build reads ${RECORD_FORMAT_VERSION}`,
      { newerVersion: version > RECORD_FORMAT_VERSION },
    );
  }
  if (bytes.byteLength < HEADER + 20) throw new RecordFormatError("queued record is truncated");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = HEADER;
  const span = (): Uint8Array => {
    if (pos + 4 > bytes.byteLength) throw new RecordFormatError("queued record is truncated");
    const n = view.getUint32(pos, true);
    const end = pos + 4 + n;
    if (end > bytes.byteLength) throw new RecordFormatError("queued record is truncated");
    const s = bytes.subarray(pos + 4, end);
    pos = end;
    return s;
  };
  const text = () => {
    const s = span();
    try {
      return decoder.decode(s);
    } catch (err) {
      throw new RecordFormatError("queued record has invalid UTF-8", { cause: err });
    }
  };
  const id = text();
  const contentType = text();
  const content = span().slice();
  let metadata: KemRecord["metadata"];
  try {
    metadata = JSON.parse(text()) as KemRecord["metadata"];
  } catch (err) {
    if (err instanceof RecordFormatError) throw err;
    throw new RecordFormatError("queued record has invalid metadata JSON", { cause: err });
  }
  if (pos + 4 > bytes.byteLength) throw new RecordFormatError("queued record is truncated");
  const dim = view.getUint32(pos, true);
  pos += 4;
  let embedding: Float32Array | null = null;
  if (bytes[1]! & 1) {
    if (pos + dim * 4 > bytes.byteLength) throw new RecordFormatError("queued record is truncated");
    if (LITTLE_ENDIAN)
      embedding = new Float32Array(bytes.buffer.slice(bytes.byteOffset + pos, bytes.byteOffset + pos + dim * 4));
    else {
      embedding = new Float32Array(dim);
      for (let i = 0; i < dim; i++) embedding[i] = view.getFloat32(pos + 4 * i, true);
    }
  }
  return {
    id,
    contentType,
    content,
    metadata,
    embedding,
    createdAtUs: view.getFloat64(2, true),
    updatedAtUs: view.getFloat64(10, true),
  };
}

/** Converts a wire KEM (with timestamps) to a record; embeddings become a `Float32Array`. */
export function kemToRecord(kem: KEM): KemRecord {
  return {
    id: kem.id,
    contentType: kem.contentType,
    content: kem.content,
    metadata: kem.metadata ?? {},
    embedding: kem.embeddings.length > 0 ? Float32Array.from(kem.embeddings) : null,
    createdAtUs: kem.createdAt ? timestampToMicros(kem.createdAt) : 0,
    updatedAtUs: kem.updatedAt ? timestampToMicros(kem.updatedAt) : 0,
  };
}
