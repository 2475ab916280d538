/**
 * Credentials for DCSM calls (docs/security.md): an API key or a JWT, sent as `authorization: Bearer
 * <token>` on every protocol (gRPC metadata and HTTP headers alike).
 * @module
 */
import type { Interceptor } from "@connectrpc/connect";

/**
 * A client interceptor adding `authorization: Bearer <token>` to every call.
 * @param token - API key or JWT, or a function returning the current one (e.g. a refreshed JWT).
 * @returns an interceptor for any Connect transport's `interceptors` option.
 */
export function bearerAuth(token: string | (() => string | Promise<string>)): Interceptor {
  return (next) => async (req) => {
    req.header.set("authorization", `Bearer ${typeof token === "string" ? token : await token()}`);
    return next(req);
  };
}
