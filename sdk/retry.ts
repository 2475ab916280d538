/**
 * Retries for idempotent unary calls: a Connect interceptor that repeats a call failing with
 * `Unavailable` or `DeadlineExceeded` after an exponential backoff with decorrelated jitter
 * (cockatiel). Browser-safe: no `node:` or `bun:` imports.
 * @module
 */
import { Code, ConnectError, type Transport } from "@connectrpc/connect";
import { decorrelatedJitterGenerator, ExponentialBackoff, handleWhen, retry } from "cockatiel";

/** Retry policy of the Agent SDK. Defaults in {@link DEFAULT_RETRY}. */
export interface RetryOptions {
  /** Attempts after the first one; 0 disables retries. @default 4 */
  maxRetries: number;
  /** First backoff delay, ms. @default 50 */
  initialDelayMs: number;
  /** Longest backoff delay, ms. @default 2000 */
  maxDelayMs: number;
}

/** Default retry policy: up to 4 retries, 50 ms growing ×2 up to 2 s, with jitter. */
export const DEFAULT_RETRY: Readonly<RetryOptions> = Object.freeze({
  maxRetries: 4,
  initialDelayMs: 50,
  maxDelayMs: 2000,
});

/** Connect codes that are retried: the call may not have run, or may run again safely. */
export const RETRYABLE_CODES: ReadonlySet<Code> = new Set([Code.Unavailable, Code.DeadlineExceeded]);

/**
 * True when repeating `req` cannot change the outcome beyond the first success
 * (clients retry only what is safe). Reads, lock info, counters' reads, `UpdateKEM` (same patch
 * twice gives the same KEM), GLM stores that carry idempotency keys, and SWM publishes of a KEM
 * with an id (a replay is a `KEM_UPDATED` of the same content) are idempotent. `IncrementCounter`,
 * `AcquireLock`, `ReleaseLock`, `DeleteKEM`, id-less stores and `ProcessRawData` are not.
 */
export function isIdempotent(methodName: string, message: unknown): boolean {
  const m = message as Record<string, unknown>;
  switch (methodName) {
    case "RetrieveKEMs":
    case "UpdateKEM":
    case "QuerySWM":
    case "LoadKEMsFromGLM":
    case "GetLockInfo":
    case "GetCounter":
    case "Check":
      return true;
    case "StoreKEM":
      return typeof m.idempotencyKey === "string" && m.idempotencyKey !== "";
    case "BatchStoreKEMs": {
      const keys = m.idempotencyKeys as string[] | undefined;
      return !!keys && keys.length > 0 && keys.every((k) => k !== "");
    }
    case "PublishKEMToSWM":
      return !!(m.kemToPublish as { id?: string } | undefined)?.id;
    default:
      return false;
  }
}

/**
 * Converts a fetch network failure (a `TypeError` such as "Failed to fetch" or ECONNRESET, which
 * fetch-based transports report as `Unknown`) into `Unavailable`; other errors become `ConnectError`s unchanged.
 */
export function normalizeNetworkError(err: unknown): ConnectError {
  const ce = ConnectError.from(err);
  if (ce.code === Code.Unknown && (err instanceof TypeError || ce.cause instanceof TypeError)) {
    return new ConnectError(`network error: ${ce.rawMessage}`, Code.Unavailable, undefined, undefined, err);
  }
  return ce;
}

/** True when `err` is (or normalizes to) a `ConnectError` whose code is retried ({@link RETRYABLE_CODES}). */
export function isRetryable(err: unknown): boolean {
  return RETRYABLE_CODES.has(normalizeNetworkError(err).code);
}

/**
 * Wraps a transport so idempotent unary calls ({@link isIdempotent}) failing with `Unavailable` or
 * `DeadlineExceeded` are retried with exponential backoff and jitter. The call's `timeoutMs` and
 * `AbortSignal` bound all attempts together (each attempt gets the time left; an aborted call is
 * never retried). Streams pass through (the event helper reconnects on its own).
 * @param transport - any Connect transport. @param options - policy; missing fields use {@link DEFAULT_RETRY}.
 * @param onRetry - called before each retry with the failed attempt's error (logging, metrics).
 * @throws RangeError when `maxRetries` is not an integer >= 0.
 */
export function withRetries(
  transport: Transport,
  options: Partial<RetryOptions> = {},
  onRetry?: (err: ConnectError, method: string) => void,
): Transport {
  const o = { ...DEFAULT_RETRY, ...options };
  if (!Number.isInteger(o.maxRetries) || o.maxRetries < 0)
    throw new RangeError("retry.maxRetries must be an integer >= 0");
  if (o.maxRetries === 0) {
    return {
      unary: (...args) => transport.unary(...args).catch((err: unknown) => Promise.reject(normalizeNetworkError(err))),
      stream: (...args) =>
        transport.stream(...args).catch((err: unknown) => Promise.reject(normalizeNetworkError(err))),
    };
  }
  const policy = retry(handleWhen(isRetryable), {
    maxAttempts: o.maxRetries,
    backoff: new ExponentialBackoff({
      initialDelay: o.initialDelayMs,
      maxDelay: o.maxDelayMs,
      generator: decorrelatedJitterGenerator,
    }),
  });
  return {
    unary(method, signal, timeoutMs, header, input, contextValues) {
      if (!isIdempotent(method.name, input)) {
        return transport
          .unary(method, signal, timeoutMs, header, input, contextValues)
          .catch((err: unknown) => Promise.reject(normalizeNetworkError(err)));
      }
      const deadline = timeoutMs !== undefined && timeoutMs > 0 ? Date.now() + timeoutMs : undefined;
      let attempt = 0;
      return policy
        .execute(async () => {
          if (signal?.aborted) throw new NotRetried(ConnectError.from(signal.reason ?? "aborted", Code.Canceled));
          const left = deadline === undefined ? undefined : deadline - Date.now();
          if (left !== undefined && left <= 0)
            throw new NotRetried(
              new ConnectError(`deadline of ${timeoutMs} ms exceeded after ${attempt} attempts`, Code.DeadlineExceeded),
            );
          try {
            return await transport.unary(method, signal, left, header, input, contextValues);
          } catch (err) {
            const ce = normalizeNetworkError(err);
            if (signal?.aborted) throw new NotRetried(ce);
            if (isRetryable(ce) && attempt++ < o.maxRetries) onRetry?.(ce, method.name);
            throw ce;
          }
        }, signal)
        .catch((err: unknown) => {
          if (err instanceof NotRetried) throw err.error;
          if (!(err instanceof ConnectError) && signal?.aborted)
            throw ConnectError.from(signal.reason ?? err, Code.Canceled);
          throw err;
        });
    },
    stream: (...args) => transport.stream(...args).catch((err: unknown) => Promise.reject(normalizeNetworkError(err))),
  };
}

/** Wraps an error that must not be retried (the call was aborted or out of time). */
class NotRetried extends Error {
  constructor(readonly error: ConnectError) {
    super(error.message);
  }
}
