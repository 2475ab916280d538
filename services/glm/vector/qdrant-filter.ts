/**
 * Translation of GLM filters to Qdrant filters, over the point layout in docs/storage.md ("Qdrant
 * point layout"): payload `kem_id_ref` (the KEM id), `md_<key>` (each metadata key),
 * `created_at_ts` / `updated_at_ts` (Unix seconds). The shape produced:
 * `must: [{key: "md_source", match: {value: "manual"}}, {key: "created_at_ts", range: {gte: …}}]`.
 * @module
 */
import type { JsonObject } from "@bufbuild/protobuf";
import { v5 as uuidv5 } from "uuid";
import type { KemFilter } from "../../common/kem-record.ts";

/** A Qdrant filter condition (the subset DCSM produces). */
export type QdrantCondition =
  | { key: string; match: { value: string | number | boolean } }
  | { key: string; range: { gte?: number; lte?: number } }
  | { has_id: string[] };

/** A Qdrant filter: every condition must hold. */
export interface QdrantFilter {
  must: QdrantCondition[];
}

/** Namespace for point ids of KEM ids that are not UUIDs (UUIDv5 of the KEM id). */
export const POINT_ID_NAMESPACE = "2b6f0cc9-93d4-4e9f-a1b1-4f5e7c3d2a10";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Qdrant point id of a KEM: the id itself when it is a UUID (GLM's UUIDv7 ids), otherwise a
 * deterministic UUIDv5 of it (Qdrant accepts only UUIDs and unsigned integers as point ids).
 */
export function pointIdOf(kemId: string): string {
  return UUID.test(kemId) ? kemId.toLowerCase() : uuidv5(kemId, POINT_ID_NAMESPACE);
}

/** Seconds, rounded down, of a microsecond timestamp (the `*_ts` payload unit). */
export function secondsOf(us: number): number {
  return Math.floor(us / 1_000_000);
}

/**
 * Payload of a KEM's point: `kem_id_ref`, `md_<key>` for every top-level metadata key, and the
 * timestamps in Unix seconds.
 */
export function payloadOf(
  kemId: string,
  metadata: JsonObject,
  createdAtUs: number,
  updatedAtUs: number,
): Record<string, unknown> {
  const payload: Record<string, unknown> = {
    kem_id_ref: kemId,
    created_at_ts: secondsOf(createdAtUs),
    updated_at_ts: secondsOf(updatedAtUs),
  };
  for (const [k, v] of Object.entries(metadata)) payload[`md_${k}`] = v;
  return payload;
}

/**
 * Translates a {@link KemFilter} to a Qdrant filter, or undefined when it filters nothing.
 * Date bounds are widened to whole seconds (Qdrant holds seconds); callers that need microsecond
 * precision intersect with the exact SQLite result, as GLM does.
 */
export function toQdrantFilter(filter: KemFilter | undefined): QdrantFilter | undefined {
  if (!filter) return undefined;
  const must: QdrantCondition[] = [];
  if (filter.ids && filter.ids.length > 0) must.push({ has_id: filter.ids.map(pointIdOf) });
  for (const [key, value] of Object.entries(filter.metadata ?? {})) must.push({ key: `md_${key}`, match: { value } });
  const range = (key: string, from?: number, to?: number) => {
    if (from === undefined && to === undefined) return;
    const r: { gte?: number; lte?: number } = {};
    if (from !== undefined) r.gte = secondsOf(from);
    if (to !== undefined) r.lte = Math.ceil(to / 1_000_000);
    must.push({ key, range: r });
  };
  range("created_at_ts", filter.createdFromUs, filter.createdToUs);
  range("updated_at_ts", filter.updatedFromUs, filter.updatedToUs);
  return must.length > 0 ? { must } : undefined;
}
