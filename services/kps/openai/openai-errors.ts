/**
 * Errors of the OpenAI-compatible API in OpenAI's JSON shape
 * (`{"error":{"message","type","param","code"}}`, https://platform.openai.com/docs/guides/error-codes),
 * with the HTTP status OpenAI uses for each case.
 * @module
 */
import { DcsmError } from "../../common/errors.ts";
import { QueueFullError } from "../embedder/batching-embedder.ts";

/** OpenAI error types used here. */
export type OpenAiErrorType = "invalid_request_error" | "authentication_error" | "rate_limit_error" | "server_error";

/** An error answered in OpenAI's shape. */
export class OpenAiError extends Error {
  override name = "OpenAiError";
  /**
   * @param status - HTTP status (400, 401, 404, 405, 413, 429, 500, 503).
   * @param message - human-readable message (no internals).
   * @param type - OpenAI error type.
   * @param code - machine code, e.g. "invalid_api_key", "model_not_found", or null.
   * @param param - request field at fault, e.g. "input", or null.
   * @param headers - extra response headers (e.g. `Retry-After`).
   */
  constructor(
    readonly status: number,
    message: string,
    readonly type: OpenAiErrorType,
    readonly code: string | null = null,
    readonly param: string | null = null,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** A 400 `invalid_request_error` about `param`. */
export function invalidRequest(message: string, param: string | null = null, code: string | null = null): OpenAiError {
  return new OpenAiError(400, message, "invalid_request_error", code, param);
}

/**
 * Converts anything thrown while serving a request to an {@link OpenAiError}:
 * `QueueFullError` → 429 with `Retry-After` (seconds); other `DcsmError`s by their Connect code
 * (InvalidArgument → 400, ResourceExhausted → 429, FailedPrecondition/Unavailable → 503);
 * anything else → 500 with a generic message (the cause is logged by the caller, never sent).
 */
export function toOpenAiError(err: unknown): OpenAiError {
  if (err instanceof OpenAiError) return err;
  if (err instanceof QueueFullError) {
    const seconds = Math.max(1, Math.ceil(err.retryAfterMs / 1000));
    return new OpenAiError(429, err.message, "rate_limit_error", "rate_limit_exceeded", null, {
      "retry-after": String(seconds),
    });
  }
  if (err instanceof DcsmError) {
    switch (err.name) {
      case "InvalidInputError":
        return invalidRequest(err.message);
      case "LimitExceededError":
        return new OpenAiError(429, err.message, "rate_limit_error", "rate_limit_exceeded", null, {
          "retry-after": "1",
        });
      case "PreconditionError":
      case "BackendUnavailableError":
        return new OpenAiError(503, err.message, "server_error", "service_unavailable", null, { "retry-after": "5" });
    }
  }
  return new OpenAiError(
    500,
    "The server had an error while processing your request.",
    "server_error",
    "internal_error",
  );
}

/** The JSON response of an error. */
export function errorResponse(err: OpenAiError, extraHeaders: Record<string, string> = {}): Response {
  const body = { error: { message: err.message, type: err.type, param: err.param, code: err.code } };
  return new Response(JSON.stringify(body), {
    status: err.status,
    headers: { "content-type": "application/json", ...err.headers, ...extraHeaders },
  });
}
