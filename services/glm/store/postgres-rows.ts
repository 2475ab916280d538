/**
 * KEM rows of the PostgreSQL store (`kems`, postgres-schema.ts) as GLM records: the row shape
 * selected by {@link ROW_COLUMNS}, its conversion to a {@link KemRecord}, and reading rows by id,
 * shared by the reads and the writes of the store.
 * @module
 */

import type { JsonObject } from "@bufbuild/protobuf";
import type postgres from "postgres";
import { NAMESPACE_KEY } from "../../common/access.ts";
import type { KemRecord } from "../../common/kem-record.ts";
import { inList, Params, ROW_COLUMNS } from "./postgres-filter-plan.ts";
import type { Tx } from "./postgres-transaction.ts";
import { blobToVector } from "./vector-bytes.ts";

/** A `kems` row as selected by `ROW_COLUMNS` (`bigint` microseconds arrive as strings). */
export interface Row {
  id: string;
  content_type: string;
  content: Uint8Array;
  metadata: JsonObject;
  created_us: string;
  updated_us: string;
  embedding: Uint8Array | null;
}

/** The record of a row; the embedding is decoded from little-endian float32 bytes. */
export function rowToRecord(r: Row): KemRecord {
  return {
    id: r.id,
    contentType: r.content_type,
    content: new Uint8Array(r.content.buffer, r.content.byteOffset, r.content.byteLength),
    metadata: r.metadata,
    embedding: r.embedding ? blobToVector(r.embedding) : null,
    createdAtUs: Number(r.created_us),
    updatedAtUs: Number(r.updated_us),
  };
}

/** The idempotency scope of a KEM: its namespace, "" when it has none. */
export function scopeOf(metadata: JsonObject): string {
  const ns = metadata[NAMESPACE_KEY];
  return typeof ns === "string" ? ns : "";
}

/**
 * The rows of `ids` that exist, by id.
 * @param q - the pool, or a transaction.
 * @param lock - lock the rows (`FOR UPDATE`, in id order) until the transaction ends.
 */
export async function getRows(q: Tx | postgres.Sql, ids: string[], lock = false): Promise<Map<string, Row>> {
  if (ids.length === 0) return new Map();
  const p = new Params();
  const rows = await q.unsafe<Row[]>(
    `SELECT ${ROW_COLUMNS} FROM kems k WHERE ${inList("k.id", ids, p)}${lock ? " ORDER BY k.id FOR UPDATE" : ""}`,
    p.values,
    { prepare: true },
  );
  return new Map(rows.map((r) => [r.id, r]));
}
