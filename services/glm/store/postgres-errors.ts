/**
 * How PostgreSQL failures reach GLM's callers (docs/postgres.md): a server that cannot be reached
 * or drops the connection is a `BackendUnavailableError` (→ `Unavailable`: a write whose commit was
 * cut off may or may not have been applied, and is safe to retry with its idempotency key); text or
 * sizes PostgreSQL cannot hold are an `InvalidInputError` (→ `InvalidArgument`). Error codes are
 * PostgreSQL's SQLSTATEs (Appendix A of its manual) and the `postgres` driver's own codes.
 * @module
 */
import { BackendUnavailableError, InvalidInputError } from "../../common/errors.ts";
import type { KemStore } from "../ports.ts";

/** Connection-level failures: the server is unreachable, refused, restarting or dropped us. */
export function isUnavailableError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== "string") return false;
  return (
    code.startsWith("08") || // connection exception class
    ["57P01", "57P02", "57P03", "53300"].includes(code) || // shutdown, crash, cannot connect now, too many connections
    code.startsWith("CONNECTION_") || // the driver's CONNECTION_CLOSED / _ENDED / _DESTROYED
    [
      "CONNECT_TIMEOUT",
      "ECONNREFUSED",
      "ECONNRESET",
      "ETIMEDOUT",
      "EHOSTUNREACH",
      "ENETUNREACH",
      "ENOTFOUND",
      "EPIPE",
    ].includes(code)
  );
}

/**
 * The `InvalidInputError` for a statement that failed on what it was given: text PostgreSQL cannot
 * store (22P05 untranslatable character, 22021 bad byte sequence: U+0000 in metadata) or a value
 * over one of its limits (54000, such as a `tsvector` too large).
 * @returns undefined for any other failure.
 */
export function invalidInputOf(err: unknown): InvalidInputError | undefined {
  const code = (err as { code?: unknown }).code;
  if (code === "22P05" || code === "22021")
    return new InvalidInputError(
      `text PostgreSQL cannot store (such as U+0000 in metadata): ${(err as Error).message}`,
      { cause: err },
    );
  if (code === "54000")
    return new InvalidInputError(`a KEM exceeds a PostgreSQL limit: ${(err as Error).message}`, { cause: err });
  return undefined;
}

/**
 * Every method of `store`, with connection failures ({@link isUnavailableError}) turned into
 * `BackendUnavailableError`; other errors and non-function properties pass through unchanged.
 */
export function guardUnavailable<S extends KemStore>(store: S): S {
  const out = {} as Record<string, unknown>;
  for (const [name, fn] of Object.entries(store) as [string, unknown][]) {
    if (typeof fn !== "function") {
      out[name] = fn;
      continue;
    }
    out[name] = async (...args: unknown[]) => {
      try {
        return await fn(...args);
      } catch (err) {
        if (isUnavailableError(err))
          throw new BackendUnavailableError(`PostgreSQL unavailable (${(err as Error).message}); retry later`, {
            cause: err,
          });
        throw err;
      }
    };
  }
  return out as unknown as S;
}
