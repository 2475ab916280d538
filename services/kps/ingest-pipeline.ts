/**
 * Runs the stages of KPS's `ProcessRawData` for one document, in order: validate the request,
 * decode its text, chunk it for the model, scope it to its DCSM namespace, plan each chunk's KEM,
 * diff the plan against the chunks GLM already holds, embed what is new (reusing stored embeddings
 * of moved text), write, remove chunks that no longer exist, and report. Each stage throws DCSM
 * errors (`InvalidInputError` → `InvalidArgument`, `BackendUnavailableError` → `Unavailable`),
 * which the service maps to Connect codes. The stages live in ingest-input.ts (1–3),
 * ingest-plan.ts (4–7) and ingest-write.ts (8–11) and are re-exported here.
 * @module
 */
import type { JsonObject } from "@bufbuild/protobuf";
import type { ProcessRawDataRequest, ProcessRawDataResponse } from "../../sdk/gen/dcsm/v1/kps_service_pb.ts";
import { checkMetadataSize } from "../common/kem-mapping.ts";
import { chunkForModel, decodeText, type IngestLimits, validateRequest } from "./ingest-input.ts";
import { diffAgainstStored, findStoredChunks, planChunks, scopeOf } from "./ingest-plan.ts";
import { embedKems, ingestResponse, removeVanished, writeKems } from "./ingest-write.ts";
import type { Embedder, KemSink } from "./ports.ts";

export * from "./ingest-input.ts";
export * from "./ingest-plan.ts";
export * from "./ingest-write.ts";

/**
 * Runs every stage for one document (`ProcessRawData` semantics).
 * @param embedder - the model, or a promise of it while it loads (awaited after validation).
 * @throws InvalidInputError for bad input; BackendUnavailableError when GLM stores nothing; the
 *   model's error when it cannot load.
 */
export async function ingestDocument(
  req: ProcessRawDataRequest,
  deps: { embedder: Embedder | Promise<Embedder>; sink: KemSink; limits: IngestLimits },
): Promise<ProcessRawDataResponse> {
  const { sink, limits } = deps;
  const contentType = validateRequest(req, limits);
  const text = decodeText(req.rawContent);
  const initial: JsonObject = req.initialMetadata ?? {};
  checkMetadataSize(initial, limits.kem);
  const embedder = await deps.embedder;
  const chunked = await chunkForModel(text, req, contentType, embedder, limits);
  const scope = scopeOf(req, initial);
  const planned = planChunks(req, initial, chunked, scope);
  const existing = await findStoredChunks(sink, req, scope);
  const diff = diffAgainstStored(planned, existing);
  const kems = await embedKems(diff, contentType, embedder);
  const written = await writeKems(sink, kems, diff.toWrite, limits.kem.maxBatchSize);
  const removed = await removeVanished(sink, existing, planned, written);
  return ingestResponse(planned, diff, written, removed);
}
