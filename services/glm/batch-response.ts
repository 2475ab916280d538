/**
 * The `BatchStoreKEMs` answer from its per-item results (`glm_service.proto`: `successfully_stored_kems`
 * and `failed_kem_references` next to the per-item `results`), shared by the GLM service and the
 * namespace guard that answers denied items itself.
 * @module
 */
import { create } from "@bufbuild/protobuf";
import {
  type BatchStoreKEMResult,
  type BatchStoreKEMsResponse,
  BatchStoreKEMsResponseSchema,
} from "../../sdk/gen/dcsm/v1/glm_service_pb.ts";
import type { KEM } from "../../sdk/gen/dcsm/v1/kem_pb.ts";

/**
 * Builds the response: `results` as given (one per request item, `index` into `requested`), the
 * stored KEMs in request order, and for each failed item its id or, without one, its index.
 */
export function batchStoreResponse(results: BatchStoreKEMResult[], requested: readonly KEM[]): BatchStoreKEMsResponse {
  const ok: KEM[] = [];
  const failed: string[] = [];
  for (const r of results) {
    if (r.outcome.case === "kem") ok.push(r.outcome.value);
    else failed.push(requested[r.index]?.id || String(r.index));
  }
  return create(BatchStoreKEMsResponseSchema, { results, successfullyStoredKems: ok, failedKemReferences: failed });
}
