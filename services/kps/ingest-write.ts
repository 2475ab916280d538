/**
 * The output stages of KPS's ingestion (stages 8–11 of ingest-pipeline.ts): embed the new chunk
 * text and build the KEMs, write them through the sink in batches, remove stored chunks the plan
 * no longer has (only after a complete write), and build the `ProcessRawData` response.
 * @module
 */
import { create } from "@bufbuild/protobuf";
import { type KEM, KEMSchema } from "../../sdk/gen/dcsm/v1/kem_pb.ts";
import { type ProcessRawDataResponse, ProcessRawDataResponseSchema } from "../../sdk/gen/dcsm/v1/kps_service_pb.ts";
import { BackendUnavailableError } from "../common/errors.ts";
import { vectorToNumbers } from "../common/kem-mapping.ts";
import { asDocuments } from "./embedder/model-profile.ts";
import type { ChunkDiff, PlannedChunk } from "./ingest-plan.ts";
import type { Embedder, KemSink, StoredChunk } from "./ports.ts";
import { queuedIn } from "./queued-results.ts";

/** The shared UTF-8 encoder of {@link embedKems}. */
const utf8Out = new TextEncoder();

/**
 * Stage 8, embedding: embeds the fresh chunks as documents (the model's document instruction, if
 * any) and builds the KEMs to write, with reused embeddings for moved text.
 */
export async function embedKems(diff: ChunkDiff, contentType: string, embedder: Embedder): Promise<KEM[]> {
  const freshVectors = await embedder.embed(
    asDocuments(
      embedder,
      diff.fresh.map((p) => p.chunk.text),
    ),
  );
  let f = 0;
  return diff.toWrite.map((p, i) =>
    create(KEMSchema, {
      id: p.id,
      contentType,
      content: utf8Out.encode(p.chunk.text),
      metadata: p.metadata,
      embeddings: vectorToNumbers(diff.reuse[i] ?? freshVectors[f++]!),
    }),
  );
}

/** What the sink did with the KEMs. */
export interface ChunkWrites {
  /** Stored id by position in {@link ChunkDiff.toWrite}. */
  stored: Map<number, string>;
  /** "chunk <index>: <reason>" per chunk GLM refused. */
  failures: string[];
  /** Chunks a durable sink queued for GLM instead of storing (GLM unreachable). */
  queued: number;
}

/**
 * Stage 9, writing: the KEMs through the sink in batches of at most `maxBatchSize`.
 * @throws BackendUnavailableError when GLM stored none of them.
 */
export async function writeKems(
  sink: KemSink,
  kems: KEM[],
  toWrite: PlannedChunk[],
  maxBatchSize: number,
): Promise<ChunkWrites> {
  const stored = new Map<number, string>();
  const failures: string[] = [];
  let queued = 0;
  for (let start = 0; start < kems.length; start += maxBatchSize) {
    const res = await sink.batchStore({ kems: kems.slice(start, start + maxBatchSize) });
    queued += queuedIn(res);
    for (const r of res.results) {
      if (r.outcome.case === "kem") stored.set(start + r.index, r.outcome.value.id);
      else failures.push(`chunk ${toWrite[start + r.index]!.chunk.index}: ${r.outcome.value?.message ?? "not stored"}`);
    }
  }
  if (stored.size === 0 && kems.length > 0)
    throw new BackendUnavailableError(`GLM stored none of ${kems.length} chunks: ${failures.slice(0, 3).join("; ")}`);
  return { stored, failures, queued };
}

/**
 * Stage 10, removal: the stored chunks the new plan no longer has. They are deleted only when
 * every write succeeded (a partial write keeps the old chunks).
 * @returns the ids that are no longer planned (deleted or not).
 */
export async function removeVanished(
  sink: KemSink,
  existing: StoredChunk[],
  planned: PlannedChunk[],
  written: ChunkWrites,
): Promise<string[]> {
  const keep = new Set(planned.map((p) => p.id));
  const removed = existing.filter((e) => !keep.has(e.id)).map((e) => e.id);
  if (removed.length > 0 && written.failures.length === 0) await sink.deleteMany(removed);
  return removed;
}

/**
 * Stage 11, the response: the KEM ids in document order, success, the counters and the status
 * message ("stored N chunks (…)", "queued N of M chunks for GLM, which is unreachable; …", or
 * "stored N of M chunks; <first failures>").
 */
export function ingestResponse(
  planned: PlannedChunk[],
  diff: ChunkDiff,
  written: ChunkWrites,
  removed: string[],
): ProcessRawDataResponse {
  const { failures, queued, stored } = written;
  const writeIndex = new Map(diff.toWrite.map((p, i) => [p, i]));
  const ids = planned
    .map((p) => (diff.unchangedIds.has(p.id) ? p.id : stored.get(writeIndex.get(p)!)))
    .filter((id): id is string => id !== undefined);
  const moved = diff.toWrite.length - diff.fresh.length;
  const summary = `${diff.fresh.length} embedded, ${diff.unchanged.length} unchanged, ${moved} moved, ${failures.length === 0 ? removed.length : 0} removed`;
  return create(ProcessRawDataResponseSchema, {
    kemIds: ids,
    success: failures.length === 0,
    statusMessage:
      failures.length === 0 && queued > 0
        ? `queued ${queued} of ${ids.length} chunks for GLM, which is unreachable; they are stored when it returns (${summary})`
        : failures.length === 0
          ? `stored ${ids.length} chunk${ids.length === 1 ? "" : "s"} (${summary})`
          : `stored ${ids.length} of ${planned.length} chunks; ${failures.slice(0, 3).join("; ")}`,
    chunksEmbedded: diff.fresh.length,
    chunksUnchanged: diff.unchanged.length,
    chunksMoved: moved,
    chunksRemoved: failures.length === 0 ? removed.length : 0,
  });
}
