/**
 * Refusal on the hosts' first look at a request. When the process is full or its event loop is
 * congested ({@link Admission.refuseEarly}), every unary RPC is refused the same way whoever sends
 * it, so the hosts answer it before anything else runs for it: no routing, no middleware, no
 * credential check, no header copy, no body read, and a response encoded once per protocol and
 * cause. Under overload refusals are most of the requests, and each costs the busy event loop
 * only this (docs/overload.md has the measurements).
 *
 * The answer is the same `ResourceExhausted` with `retry-after` as a refusal after authentication
 * (`early-auth.ts` writes both): HTTP 429 with a JSON error on Connect unary, an end-of-stream
 * message on Connect streaming, "trailers-only" on gRPC and gRPC-Web. Requests with an `Origin`
 * header (browsers, which need CORS headers on the answer) and calls to services open without
 * credentials take the ordinary path, which refuses them too.
 * @module
 */
import type { ConnectError } from "@connectrpc/connect";
import type { Admission } from "./admission.ts";
import { type RouteRegistration, readBodyUpTo } from "./connect-app.ts";
import { earlyErrorResponse, OPEN_READ_MAX_BYTES, OPEN_SERVICES, rpcPaths } from "./early-auth.ts";

/** An encoded refusal: status, header pairs and body (null: trailers-only). */
export interface EncodedRefusal {
  status: number;
  headers: [string, string][];
  /** The same headers as an object (for `node:http2`'s `respond`). */
  headerObject: Record<string, string>;
  body: Uint8Array | null;
}

/** The request's protocol family from its `content-type`, as far as the refusal's encoding differs. */
function protocolOf(contentType: string | null | undefined): string {
  const ct = (contentType ?? "").toLowerCase();
  const semi = ct.indexOf(";");
  const base = semi < 0 ? ct : ct.slice(0, semi);
  if (base.startsWith("application/grpc") || base.startsWith("application/connect+")) return base;
  return "";
}

/** The fast refusal of a host. */
export interface FastRefusal {
  /**
   * For `Bun.serve`'s fetch: the refusal to send, or undefined to go on as usual. A body of
   * declared length up to {@link OPEN_READ_MAX_BYTES} is left unread (Bun discards it and keeps the
   * connection) and the answer is immediate; one of unknown length (chunked: connect-node's
   * HTTP/1.1 client sends so) is read and dropped up to that size first, because closing the
   * connection under a client still sending makes its write fail with EPIPE instead of reading the
   * refusal; beyond that size, or declared larger, the answer says `connection: close`.
   */
  fetch(req: Request): Response | Promise<Response> | undefined;
  /**
   * For a `node:http2` (or `node:http`) request: the refusal to write now, or undefined to go on.
   * @param path - the request path without its query. @param headers - the request's header object.
   */
  node(
    path: string,
    method: string | undefined,
    headers: Record<string, string | string[] | undefined>,
  ): EncodedRefusal | undefined;
}

/**
 * Builds the fast refusal of the unary RPCs that `routes` registers.
 * @param routes - the service registration shared by the listeners.
 * @param admission - the process's admission controller.
 */
export function createFastRefusal(routes: RouteRegistration, admission: Admission): FastRefusal {
  const unary = new Set<string>();
  for (const [path, r] of rpcPaths(routes)) if (!r.streaming && !OPEN_SERVICES.has(r.service)) unary.add(path);
  // Encodings by cause (the error object, one per cause) and protocol.
  const cache = new WeakMap<ConnectError, Map<string, EncodedRefusal>>();
  const encode = (error: ConnectError, contentType: string | null | undefined): EncodedRefusal => {
    const proto = protocolOf(contentType);
    let byProto = cache.get(error);
    if (!byProto) {
      byProto = new Map();
      cache.set(error, byProto);
    }
    let enc = byProto.get(proto);
    if (!enc) {
      const r = earlyErrorResponse(proto || null, error);
      const headers: [string, string][] = [];
      r.headers.forEach((v, k) => {
        headers.push([k, v]);
      });
      enc = { status: r.status, headers, headerObject: Object.fromEntries(headers), body: r.body };
      byProto.set(proto, enc);
    }
    return enc;
  };
  const due = (path: string, method: string | undefined): ConnectError | undefined => {
    if ((method !== "POST" && method !== "GET") || !unary.has(path)) return undefined;
    return admission.refuseEarly();
  };
  return {
    fetch(req) {
      if (!admission.busy()) return undefined; // the common case: nothing to parse
      const url = req.url;
      const start = url.indexOf("/", url.indexOf("//") + 2);
      const q = url.indexOf("?", start);
      const path = start < 0 ? "/" : url.slice(start, q < 0 ? undefined : q);
      const h = req.headers;
      if (!unary.has(path) || h.has("origin")) return undefined;
      const error = due(path, req.method);
      if (!error) return undefined;
      const enc = encode(error, h.get("content-type"));
      const answer = (keep: boolean) => {
        const headers = new Headers(enc.headers);
        if (!keep) headers.set("connection", "close");
        return new Response(enc.body as BodyInit | null, { status: enc.status, headers });
      };
      const declared = h.get("content-length");
      if (req.body === null) return answer(true);
      if (declared !== null) {
        const length = Number(declared);
        return answer(Number.isSafeInteger(length) && length <= OPEN_READ_MAX_BYTES);
      }
      return readBodyUpTo(req, OPEN_READ_MAX_BYTES).then(
        (body) => answer(body !== null),
        () => answer(false),
      );
    },
    node(path, method, headers) {
      if (!admission.busy() || !unary.has(path) || headers.origin !== undefined) return undefined;
      const error = due(path, method);
      if (!error) return undefined;
      const ct = headers["content-type"];
      return encode(error, Array.isArray(ct) ? ct[0] : ct);
    },
  };
}
