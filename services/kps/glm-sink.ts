/**
 * KPS's link to GLM: a {@link KemSink} over a Connect client (in-process router transport when
 * co-located, Connect over HTTP when remote), retrying `Unavailable` with exponential backoff
 * (seed 002 3.3: the GLM client retries; DESIGN.md: services reach each other over Connect).
 * @module
 */
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { ExponentialBackoff, handleWhen, retry } from "cockatiel";
import { GlobalLongTermMemoryService } from "../../sdk/gen/dcsm/v1/glm_service_pb.ts";
import type { KemSink } from "./ports.ts";

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
  };
}
