/**
 * Marks batch-store answers that a {@link KemSink} made up because it queued the KEMs for GLM
 * instead of storing them (GLM unreachable; docs/consistency.md "Write-behind"). Driver-free, so `service.ts` can
 * ask without importing the queue's backend.
 * @module
 */
import type { BatchStoreKEMsResponse } from "../../sdk/gen/dcsm/v1/glm_service_pb.ts";

const queued = new WeakMap<BatchStoreKEMsResponse, number>();

/**
 * Records that `res` stands for `count` KEMs queued for GLM, not yet stored.
 * @returns `res`, for chaining.
 */
export function markQueued(res: BatchStoreKEMsResponse, count: number): BatchStoreKEMsResponse {
  queued.set(res, count);
  return res;
}

/** Number of KEMs of `res` that were queued for GLM rather than stored (0 for a real GLM answer). */
export function queuedIn(res: BatchStoreKEMsResponse): number {
  return queued.get(res) ?? 0;
}
