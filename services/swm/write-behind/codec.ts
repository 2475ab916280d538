/**
 * Serialization of queued write-behind records: the wire `KEM` protobuf (binary), which keeps
 * content bytes, metadata, float32 embeddings and µs timestamps exactly (no msgpackr: DESIGN.md
 * measured it corrupting Float32Array).
 * @module
 */
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { KEMSchema, type KEM } from "../../../sdk/gen/dcsm/v1/kem_pb.ts";
import { recordToKem } from "../../shared/kem-mapping.ts";
import { timestampToMicros } from "../../shared/time.ts";
import type { KemRecord } from "../ports.ts";

/** Encodes a record as `KEM` protobuf bytes. */
export function encodeRecord(rec: KemRecord): Uint8Array {
  return toBinary(KEMSchema, recordToKem(rec));
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

/** Decodes bytes made by {@link encodeRecord}. */
export function decodeRecord(bytes: Uint8Array): KemRecord {
  return kemToRecord(fromBinary(KEMSchema, bytes));
}
