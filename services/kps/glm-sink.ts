/**
 * KPS's link to GLM: a {@link KemSink} over a Connect client (in-process router transport when
 * co-located, Connect over HTTP when remote), retrying while GLM is unreachable with exponential backoff
 * (docs/architecture.md "Transport": services reach each other over Connect).
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
  /** Attempts after the first while GLM is unreachable ({@link glmUnreachable}). @default 5 */
  maxRetries?: number;
  /** First backoff delay in ms (doubles each attempt, with jitter). @default 100 */
  initialDelayMs?: number;
  /** Largest backoff delay in ms. @default 5000 */
  maxDelayMs?: number;
}

/** Socket error codes that mean "the connection to GLM failed", whatever Connect code wraps them. */
const NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "ECONNABORTED",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ERR_STREAM_DESTROYED",
  "ERR_SOCKET_CONNECTION_TIMEOUT",
  "UND_ERR_SOCKET",
]);

/**
 * True for the errors meaning "GLM is not reachable now": the ones {@link createGlmSink} retries
 * and, after its last retry, reports as `Unavailable` (the durable sink then queues the chunks):
 * `Unavailable` and `DeadlineExceeded`, and any client-side error caused by a failed socket —
 * connect-node reports a reset connection (ECONNRESET, e.g. a proxy whose GLM backend is gone) as
 * `Aborted` and a broken pipe (EPIPE) as `Internal`. Errors GLM itself sent are never network errors.
 */
export function glmUnreachable(err: unknown): boolean {
  if (!(err instanceof ConnectError)) return false;
  if (err.code === Code.Unavailable || err.code === Code.DeadlineExceeded) return true;
  for (let c: unknown = err.cause, depth = 0; c && depth < 8; c = (c as { cause?: unknown }).cause, depth++) {
    const code = (c as { code?: unknown }).code;
    if (typeof code === "string" && NETWORK_CODES.has(code)) return true;
  }
  return false;
}

/** After the last retry, a network failure is reported as `Unavailable` whatever code it had. */
function asUnavailable(err: unknown): unknown {
  if (!(err instanceof ConnectError) || err.code === Code.Unavailable || !glmUnreachable(err)) return err;
  return new ConnectError(`GLM unreachable: ${err.rawMessage}`, Code.Unavailable, undefined, undefined, err);
}

/**
 * Creates a GLM sink that retries while GLM is unreachable ({@link glmUnreachable}: `Unavailable`,
 * `DeadlineExceeded`, or a failed socket such as a reset connection, which connect-node reports as
 * `Aborted`). Batch stores are retried safely because chunk ids are deterministic (upserts).
 * @returns a {@link KemSink}; after the last retry a `ConnectError` with `Code.Unavailable` is
 *   thrown (network failures of other codes are wrapped; the original is its `cause`).
 */
export function createGlmSink(options: GlmSinkOptions): KemSink {
  const client = createClient(GlobalLongTermMemoryService, options.transport);
  const policy = retry(handleWhen(glmUnreachable), {
    maxAttempts: options.maxRetries ?? 5,
    backoff: new ExponentialBackoff({
      initialDelay: options.initialDelayMs ?? 100,
      maxDelay: options.maxDelayMs ?? 5000,
    }),
  });
  const attempt = async <T>(call: () => Promise<T>): Promise<T> => {
    try {
      return await policy.execute(call);
    } catch (err) {
      throw asUnavailable(err);
    }
  };
  return {
    batchStore: (request) => attempt(() => client.batchStoreKEMs(request)),
    async findByMetadata(filters) {
      const metadataFilters = Object.fromEntries(
        Object.entries(filters).map(([k, value]) => [k, { kind: { case: "stringValue" as const, value } }]),
      );
      const out: StoredChunk[] = [];
      let pageToken = "";
      do {
        const res = await attempt(() => client.retrieveKEMs({ query: { metadataFilters }, pageSize: 1000, pageToken }));
        for (const k of res.kems)
          out.push({
            id: k.id,
            metadata: k.metadata ?? {},
            embedding: k.embeddings.length > 0 ? Float32Array.from(k.embeddings) : undefined,
          });
        pageToken = res.nextPageToken;
      } while (pageToken);
      return out;
    },
    async deleteMany(ids) {
      for (const id of ids) {
        try {
          await attempt(() => client.deleteKEM({ kemId: id }));
        } catch (err) {
          if (!(err instanceof ConnectError && err.code === Code.NotFound)) throw err;
        }
      }
    },
  };
}
