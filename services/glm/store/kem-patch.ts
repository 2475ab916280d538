/**
 * UpdateKEM's patch semantics, shared by every store: metadata merged key by key (a null value
 * removes the key) or replaced whole, other fields replaced when given, `updated_at` advanced
 * strictly (glm_service.proto `UpdateKEMRequest`, `MetadataUpdateMode`).
 * @module
 */
import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import type { KemRecord } from "../../common/kem-record.ts";
import { nowMicros } from "../../common/time.ts";
import type { KemPatch } from "../ports.ts";

/**
 * The record after `patch`, validated by `patch.validate` (which throws to refuse it).
 * @param cur - the stored record.
 * @param patch - the fields to change.
 * @returns the new record; `updatedAtUs` is now, or one microsecond after the current value.
 */
export function applyPatch(cur: KemRecord, patch: KemPatch): KemRecord {
  let metadata: JsonObject = cur.metadata;
  if (patch.metadata !== undefined) {
    if (patch.replaceMetadata) metadata = withoutNulls(patch.metadata);
    else {
      metadata = { ...cur.metadata };
      for (const [k, v] of Object.entries(patch.metadata)) {
        if (v === null) delete metadata[k];
        else metadata[k] = v;
      }
    }
  }
  const next: KemRecord = {
    ...cur,
    contentType: patch.contentType ?? cur.contentType,
    content: patch.content ?? cur.content,
    metadata,
    embedding: patch.embedding !== undefined ? patch.embedding : cur.embedding,
    updatedAtUs: Math.max(nowMicros(), cur.updatedAtUs + 1),
  };
  patch.validate?.(next);
  return next;
}

function withoutNulls(obj: { [key: string]: JsonValue }): JsonObject {
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(obj)) if (v !== null) out[k] = v;
  return out;
}
