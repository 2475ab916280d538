/**
 * Rows of the SQLite KEM store's `kems` table (docs/storage.md): the columns read and their
 * conversion to a {@link KemRecord} (the embedding BLOB decoded, ISO timestamps to microseconds).
 * @module
 */
import type { JsonObject } from "@bufbuild/protobuf";
import type { KemRecord } from "../../common/kem-record.ts";
import { isoToMicros } from "../../common/time.ts";
import type { KemColumns } from "./sqlite-schema.ts";
import { blobToVector } from "./vector-bytes.ts";

/** A `kems` row with its SQLite rowid. */
export interface Row extends KemColumns {
  rid: number;
}
/** The columns of a {@link Row}, unqualified. */
export const COLUMNS = "rid, id, content_type, content, metadata, created_at, updated_at, embedding";
/** The columns of a {@link Row}, qualified by the alias `k`. */
export const K_COLUMNS = "k.rid, k.id, k.content_type, k.content, k.metadata, k.created_at, k.updated_at, k.embedding";

/** The record a `kems` row holds. */
export function rowToRecord(r: Row): KemRecord {
  return {
    id: r.id,
    contentType: r.content_type,
    content: r.content,
    metadata: JSON.parse(r.metadata) as JsonObject,
    embedding: r.embedding ? blobToVector(r.embedding) : null,
    createdAtUs: isoToMicros(r.created_at),
    updatedAtUs: isoToMicros(r.updated_at),
  };
}
