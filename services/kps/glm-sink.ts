/**
 * KPS's link to GLM: a {@link KemSink} over a Connect client (in-process router transport when
 * co-located, Connect over HTTP when remote), retrying `Unavailable` with exponential backoff
 * (seed 002 3.3: the GLM client retries; DESIGN.md: services reach each other over Connect).
 * @module
 */
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { ExponentialBackoff, handleWhen, retry } from "cockatiel";
import { GlobalLongTermMemoryService } from "../../sdk/gen/dcsm/v1/glm_service_pb.ts";
import type { KemSink, StoredChunk } from "./ports.ts";

/** Options of {@link createGlmSink}. */
export interface GlmSinkOptions {
  /** Transport to GLM. */
  transport: Transport;
  /** Attempts after the first on `Unavailable`. @default 5 */
  maxRetries?: number;
  /** First backoff delay in ms (doubles each attempt, with jitter). @default 100 */
  initialDelayMs?: number;
  /** Largest backoff delay in ms. @default 5000 */
  maxDelayMs?: number;
}

/**
 * Creates a GLM sink that retries `Unavailable` (and `DeadlineExceeded`) answers.
 * Batch stores are retried safely because chunk ids are deterministic (upserts).
 * @returns a {@link KemSink}; after the last retry the `ConnectError` (`Unavailable`) is thrown.
 */
export function createGlmSink(options: GlmSinkOptions): KemSink {
  const client = createClient(GlobalLongTermMemoryService, options.transport);
  const policy = retry(
    handleWhen((err) => err instanceof ConnectError && (err.code === Code.Unavailable || err.code === Code.DeadlineExceeded)),
    {
      maxAttempts: options.maxRetries ?? 5,
      backoff: new ExponentialBackoff({ initialDelay: options.initialDelayMs ?? 100, maxDelay: options.maxDelayMs ?? 5000 }),
    },
  );
  return {
    batchStore: (request) => policy.execute(() => client.batchStoreKEMs(request)),
    async findByMetadata(key, value) {
      const out: StoredChunk[] = [];
      let pageToken = "";
      do {
        const res = await policy.execute(() => client.retrieveKEMs({ query: { metadataFilters: { [key]: { kind: { case: "stringValue", value } } } }, pageSize: 1000, pageToken }));
        for (const k of res.kems) out.push({ id: k.id, metadata: k.metadata ?? {}, embedding: k.embeddings.length > 0 ? Float32Array.from(k.embeddings) : undefined });
        pageToken = res.nextPageToken;
      } while (pageToken);
      return out;
    },
    async deleteMany(ids) {
      for (const id of ids) {
        try {
          await policy.execute(() => client.deleteKEM({ kemId: id }));
        } catch (err) {
          if (!(err instanceof ConnectError && err.code === Code.NotFound)) throw err;
        }
      }
    },
  };
}
