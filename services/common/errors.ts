/**
 * Named domain errors thrown by DCSM backends, and their mapping to Connect codes.
 *
 * Backends never throw `ConnectError` themselves: they throw one of the classes below, and each
 * service maps it with {@link toConnectError} at its boundary (docs/architecture.md "Code layout").
 * @module
 */
import { Code, ConnectError } from "@connectrpc/connect";

/** Base class of every DCSM domain error; `code` is the Connect code it maps to. */
export abstract class DcsmError extends Error {
  /** Connect code this error maps to. */
  abstract readonly code: Code;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Bad input from the caller (maps to `Code.InvalidArgument`). */
export class InvalidInputError extends DcsmError {
  readonly code = Code.InvalidArgument;
}

/** A KEM, lock or other named entity does not exist (maps to `Code.NotFound`). */
export class NotFoundError extends DcsmError {
  readonly code = Code.NotFound;
}

/** The request is valid but the system is not in a state to serve it (`Code.FailedPrecondition`). */
export class PreconditionError extends DcsmError {
  readonly code = Code.FailedPrecondition;
}

/** A configured limit or queue capacity was exceeded (maps to `Code.ResourceExhausted`). */
export class LimitExceededError extends DcsmError {
  readonly code = Code.ResourceExhausted;
}

/** A dependency (storage, GLM, Redis, model) is temporarily unavailable (`Code.Unavailable`). */
export class BackendUnavailableError extends DcsmError {
  readonly code = Code.Unavailable;
}

/** The caller may not do this: outside its namespaces or rights (maps to `Code.PermissionDenied`). */
export class PermissionError extends DcsmError {
  readonly code = Code.PermissionDenied;
}

/** No valid credentials were presented (maps to `Code.Unauthenticated`). */
export class AuthenticationError extends DcsmError {
  readonly code = Code.Unauthenticated;
}

/**
 * Maps any thrown value to a `ConnectError` with the right code.
 *
 * `ConnectError`s pass through; {@link DcsmError}s keep their code and message; anything else becomes
 * `Code.Internal` with a generic message, the original kept in `cause` (never in the message).
 * @param err - the thrown value.
 * @returns a `ConnectError` safe to send to the client.
 */
export function toConnectError(err: unknown): ConnectError {
  if (err instanceof ConnectError) return err;
  if (err instanceof DcsmError) return new ConnectError(err.message, err.code, undefined, undefined, err);
  if (isSqliteBusy(err)) {
    return new ConnectError("storage is busy, retry later", Code.Unavailable, undefined, undefined, err);
  }
  return new ConnectError("internal error", Code.Internal, undefined, undefined, err);
}

/**
 * True for a SQLite "busy" or "locked" driver error (`SQLITE_BUSY*`, `SQLITE_LOCKED*` result codes,
 * https://www.sqlite.org/rescode.html): another connection holds a lock this one needs, so the
 * same statement may succeed when retried.
 * @param err - any thrown value.
 */
export function isSqliteBusy(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && (code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED"));
}

/**
 * Wraps an async service method so every error leaving it is a `ConnectError` (see {@link toConnectError}).
 * @param fn - the method implementation.
 * @returns the same method with errors mapped.
 */
export function mapErrors<A extends unknown[], R>(fn: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  return async (...args: A) => {
    try {
      return await fn(...args);
    } catch (err) {
      throw toConnectError(err);
    }
  };
}
