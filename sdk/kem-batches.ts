/**
 * The Agent SDK's batch calls: storing KEMs in GLM in batches with idempotency keys, sending raw
 * documents to KPS in batches, and publishing KEMs to SWM a few calls at a time. Each returns
 * per-item failures instead of throwing, and puts what was stored or published into the local
 * memory (LPA). Browser-safe: no `node:` or `bun:` imports.
 * @module
 */
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { type Client, type CallOptions as ConnectCallOptions, ConnectError } from "@connectrpc/connect";
import { v7 as uuidv7 } from "uuid";
import type { BatchOutcome } from "./agent-sdk-options.ts";
import { codeFromName } from "./code-names.ts";
import type { GlobalLongTermMemoryService } from "./gen/dcsm/v1/glm_service_pb.ts";
import { type KEM, KEMSchema } from "./gen/dcsm/v1/kem_pb.ts";
import type {
  KnowledgeProcessorService,
  ProcessRawDataRequestSchema,
  ProcessRawDataResponse,
} from "./gen/dcsm/v1/kps_service_pb.ts";
import type { SharedWorkingMemoryService } from "./gen/dcsm/v1/swm_service_pb.ts";
import { type KemInput, kemInit } from "./kem-input.ts";
import type { LocalAgentMemory } from "./local-agent-memory.ts";

/** Outcome of {@link ingestDocumentBatches}: processed documents and failures, by request index. */
export interface IngestOutcome {
  /** Each processed document's `ProcessRawData` answer with its index in the request. */
  processed: { index: number; response: ProcessRawDataResponse }[];
  /** Failed documents: their index and the error (its `code` is a Connect `Code`). */
  failed: { index: number; error: ConnectError }[];
}

/**
 * Stores KEMs in GLM with `BatchStoreKEMs`, `size` per call, each item with a fresh UUIDv7
 * idempotency key; stored KEMs (with the embeddings sent when GLM returns none) go to `lpa`.
 * @throws ConnectError when a whole call fails; per-item failures are in the outcome.
 */
export async function storeKemBatches(
  glm: Client<typeof GlobalLongTermMemoryService>,
  lpa: LocalAgentMemory,
  kems: readonly KemInput[],
  size: number,
  call: ConnectCallOptions,
): Promise<BatchOutcome> {
  const out: BatchOutcome = { kems: [], failed: [] };
  for (let at = 0; at < kems.length; at += size) {
    const items = kems.slice(at, at + size).map(kemInit);
    const res = await glm.batchStoreKEMs({ kems: items, idempotencyKeys: items.map(() => uuidv7()) }, call);
    for (const r of res.results) {
      if (r.outcome.case === "kem") {
        const sent = items[r.index]!;
        const kem =
          r.outcome.value.embeddings.length === 0 && sent.embeddings?.length
            ? create(KEMSchema, { ...r.outcome.value, embeddings: [...sent.embeddings] })
            : r.outcome.value;
        lpa.put(kem);
        out.kems.push(kem);
      } else if (r.outcome.case === "error") {
        out.failed.push({
          index: at + r.index,
          error: new ConnectError(r.outcome.value.message, codeFromName(r.outcome.value.code)),
        });
      }
    }
  }
  return out;
}

/**
 * Sends raw documents to KPS with `BatchProcessRawData`, `size` documents per call.
 * @throws ConnectError when a whole call is refused; per-document failures are in the outcome.
 */
export async function ingestDocumentBatches(
  kps: Client<typeof KnowledgeProcessorService>,
  documents: readonly MessageInitShape<typeof ProcessRawDataRequestSchema>[],
  size: number,
  call: ConnectCallOptions,
): Promise<IngestOutcome> {
  const out: IngestOutcome = { processed: [], failed: [] };
  for (let at = 0; at < documents.length; at += size) {
    const res = await kps.batchProcessRawData({ documents: documents.slice(at, at + size) }, call);
    for (const r of res.results) {
      if (r.outcome.case === "response") out.processed.push({ index: at + r.index, response: r.outcome.value });
      else if (r.outcome.case === "error")
        out.failed.push({
          index: at + r.index,
          error: new ConnectError(r.outcome.value.message, codeFromName(r.outcome.value.code)),
        });
    }
  }
  return out;
}

/**
 * Publishes KEMs to SWM as `agentId`, up to `concurrency` calls at once; id-less KEMs get a
 * UUIDv7 here so retries republish the same KEM. Published KEMs go to `lpa`. Never throws:
 * every failure is in the outcome.
 */
export async function publishKemsConcurrently(
  swm: Client<typeof SharedWorkingMemoryService>,
  lpa: LocalAgentMemory,
  agentId: string,
  kems: readonly KemInput[],
  options: { persistToGlm: boolean; concurrency: number },
  call: ConnectCallOptions,
): Promise<BatchOutcome> {
  const items = kems.map((k) => ({ ...kemInit(k), id: k.id || uuidv7() }));
  const results: (KEM | ConnectError)[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      try {
        const res = await swm.publishKEMToSWM(
          { kemToPublish: items[i], persistToGlmIfNewOrUpdated: options.persistToGlm, agentId },
          call,
        );
        results[i] = res.kem!;
        lpa.put(res.kem!);
      } catch (err) {
        results[i] = ConnectError.from(err);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(items.length, options.concurrency) }, worker));
  const out: BatchOutcome = { kems: [], failed: [] };
  for (let index = 0; index < results.length; index++) {
    const r = results[index]!;
    if (r instanceof ConnectError) out.failed.push({ index, error: r });
    else out.kems.push(r);
  }
  return out;
}
