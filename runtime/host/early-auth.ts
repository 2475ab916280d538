/**
 * Authentication at the transport layer, before any request body is read. connect-es parses the
 * request message before interceptors run, so a check in an interceptor alone lets an
 * unauthenticated caller make the server buffer and decode a body of up to `DCSM_MAX_MESSAGE_BYTES`.
 * Both hosts (Hono on `Bun.serve`, and `node:http2` for gRPC and TLS) therefore authenticate each
 * RPC from its headers first: a caller without valid credentials is answered `Unauthenticated` in
 * the request's own protocol (Connect, gRPC-Web or gRPC) without reading its body. The principal is
 * handed to the RPC in the Connect context (`hostPrincipalKey`), so the authentication interceptor
 * does not verify the credentials twice; per-RPC scope checks stay in the service guards.
 *
 * Services open without credentials ({@link OPEN_SERVICES}: the gRPC health service, probed by load
 * balancers) are served with a request body limit of {@link OPEN_READ_MAX_BYTES}.
 * @module
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import {
  type Http2ServerRequest,
  type Http2ServerResponse,
  constants as http2Constants,
  type ServerHttp2Stream,
} from "node:http2";
import {
  Code,
  ConnectError,
  type ContextValues,
  createConnectRouter,
  createContextKey,
  createContextValues,
} from "@connectrpc/connect";
import { encodeEnvelope } from "@connectrpc/connect/protocol";
import {
  codeToHttpStatus,
  endStreamFlag,
  endStreamToJson,
  errorToJsonBytes,
} from "@connectrpc/connect/protocol-connect";
import { setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import { Health } from "../../sdk/gen/grpc/health/v1/health_pb.ts";
import { type Principal, principalKey } from "../../services/common/access.ts";
import { toConnectError } from "../../services/common/errors.ts";
import type { Admission } from "./admission.ts";
import type { RouteRegistration } from "./connect-app.ts";
import type { FastRefusal } from "./fast-refusal.ts";

/** Services callable without credentials. */
export const OPEN_SERVICES: ReadonlySet<string> = new Set([Health.typeName]);

/** Largest request body, in bytes, of a call to an {@link OPEN_SERVICES} service (64 KiB). */
export const OPEN_READ_MAX_BYTES = 64 * 1024;

/** Authenticates a request from its headers. @throws AuthenticationError (`Unauthenticated`). */
export type AuthenticateHeaders = (headers: Headers) => Promise<Principal>;

/** The principal the host authenticated; unset (undefined) when the host did not authenticate the call. */
export const hostPrincipalKey = createContextKey<Principal | undefined>(undefined, {
  description: "dcsm principal authenticated by the host",
});

/** Connect context values carrying a host-authenticated principal. */
export function contextValuesFor(principal: Principal): ContextValues {
  const values = createContextValues();
  values.set(hostPrincipalKey, principal);
  values.set(principalKey, principal);
  return values;
}

/** Outcome of {@link gateRequest}. */
export type GateOutcome =
  | { kind: "authenticated"; principal: Principal; release?: () => void }
  | { kind: "open" }
  | { kind: "refused"; error: ConnectError };

/** An RPC path's service type name and whether the method streams. */
export interface RpcRoute {
  service: string;
  streaming: boolean;
}

/**
 * The RPC paths (`/<service>/<method>`) a registration serves, with their service and method kind.
 * @param routes - the service registration shared by the listeners.
 */
export function rpcPaths(routes: RouteRegistration): Map<string, RpcRoute> {
  const router = createConnectRouter();
  routes(router);
  return new Map(
    router.handlers.map((h) => [
      h.requestPath,
      { service: h.service.typeName, streaming: h.method.methodKind !== "unary" },
    ]),
  );
}

/**
 * Decides, from the headers only, how an RPC proceeds: open service, authenticated principal
 * (with an admission slot for unary calls when `admission` is given — `release` it when the
 * response is complete), or refused (`Unauthenticated`, or `ResourceExhausted` from admission).
 */
export async function gateRequest(
  authenticate: AuthenticateHeaders,
  route: RpcRoute,
  headers: Headers,
  admission?: Admission,
): Promise<GateOutcome> {
  if (OPEN_SERVICES.has(route.service)) return { kind: "open" };
  let principal: Principal;
  try {
    principal = await authenticate(headers);
  } catch (err) {
    return { kind: "refused", error: toConnectError(err) };
  }
  if (!admission || route.streaming) return { kind: "authenticated", principal };
  const slot = admission.enter(principal.id);
  if (slot instanceof ConnectError) return { kind: "refused", error: slot };
  return { kind: "authenticated", principal, release: slot };
}

/** An error response in the request's protocol: status, headers and body (empty for gRPC trailers-only). */
export interface EarlyErrorResponse {
  status: number;
  headers: Headers;
  body: Uint8Array | null;
}

/**
 * The response that fails an RPC with `error` before its body was read, in the protocol the
 * request's `content-type` names: gRPC and gRPC-Web answer 200 "trailers-only" (status in the
 * headers); the Connect streaming protocol answers 200 with an end-of-stream message; Connect unary
 * (and anything else) answers the error's HTTP status with the JSON error body.
 * Sources: the gRPC protocol over HTTP/2 ("Trailers-Only"), the gRPC-Web protocol, and the Connect
 * protocol specification (connectrpc.com/docs/protocol).
 */
export function earlyErrorResponse(contentType: string | null, error: ConnectError): EarlyErrorResponse {
  const ct = (contentType ?? "").toLowerCase();
  if (ct.startsWith("application/grpc")) {
    // gRPC and gRPC-Web: trailers-only response (setTrailerStatus adds the error's metadata, e.g. retry-after).
    const headers = new Headers({ "content-type": ct.split(";")[0]! });
    setTrailerStatus(headers, error);
    return { status: 200, headers, body: null };
  }
  const headers = new Headers(error.metadata); // e.g. retry-after
  if (ct.startsWith("application/connect+")) {
    headers.set("content-type", ct.split(";")[0]!);
    const json = JSON.stringify(endStreamToJson(new Headers(), error, {}));
    return { status: 200, headers, body: encodeEnvelope(endStreamFlag, new TextEncoder().encode(json)) };
  }
  headers.set("content-type", "application/json");
  return { status: codeToHttpStatus(error.code), headers, body: errorToJsonBytes(error, {}) };
}

/** `ResourceExhausted` for an open-service body over {@link OPEN_READ_MAX_BYTES}. */
export function openBodyTooLarge(): ConnectError {
  return new ConnectError(
    `request body is over ${OPEN_READ_MAX_BYTES} bytes, the limit for calls without credentials`,
    Code.ResourceExhausted,
  );
}

/** A `node:http` / `node:http2` compatibility request or response (both listeners' handlers take either). */
type NodeRequest = IncomingMessage | Http2ServerRequest;
type NodeResponse = ServerResponse | Http2ServerResponse;
/** A node request handler (`connectNodeAdapter`'s shape). */
export type NodeHandler = (req: NodeRequest, res: NodeResponse) => void;

/** Web `Headers` of a node request (HTTP/2 pseudo-headers skipped). */
function headersOf(req: NodeRequest): Headers {
  const out = new Headers();
  for (const [k, v] of Object.entries(req.headers)) {
    if (v === undefined || k.startsWith(":")) continue;
    for (const x of Array.isArray(v) ? v : [v]) out.append(k, x);
  }
  return out;
}

/** Writes an early error and drops the unread body: HTTP/2 resets the stream (NO_ERROR), HTTP/1.1 closes the connection. */
function writeEarlyNode(req: NodeRequest, res: NodeResponse, error: ConnectError): void {
  const r = earlyErrorResponse(req.headers["content-type"] ?? null, error);
  const headers: Record<string, string> = {};
  r.headers.forEach((v, k) => {
    headers[k] = v;
  });
  writeEncodedNode(req, res, r.status, headers, r.body);
}

/** Writes an encoded early answer (status, headers, body or null for trailers-only) as {@link writeEarlyNode} does. */
export function writeEncodedNode(
  req: NodeRequest,
  res: NodeResponse,
  status: number,
  headers: Record<string, string>,
  body: Uint8Array | null,
): void {
  const r = { status, body };
  const stream = (res as Http2ServerResponse).stream as ServerHttp2Stream | undefined;
  if (req.httpVersionMajor >= 2 && stream) {
    if (!stream.destroyed) {
      stream.respond({ ":status": r.status, ...headers }, { endStream: r.body === null });
      if (r.body !== null) stream.end(r.body);
      // The client may still be sending: tell it to stop (RFC 9113 8.1, a complete response then RST_STREAM NO_ERROR).
      stream.once("finish", () => stream.close(http2Constants.NGHTTP2_NO_ERROR));
      if (r.body === null) stream.close(http2Constants.NGHTTP2_NO_ERROR);
    }
    return;
  }
  const http1 = res as ServerResponse;
  http1.writeHead(r.status, { ...headers, connection: "close" });
  http1.end(r.body ?? undefined, () => req.socket?.destroy());
}

/**
 * Wraps a node handler (`connectNodeAdapter`) so that each RPC is authenticated from its headers
 * (and admitted, with `admission`) before its body is read: refused callers get `Unauthenticated`
 * (or `ResourceExhausted`) at once — with `fast`, a process-wide refusal even before the headers
 * are authenticated (`fast-refusal.ts`); calls to
 * {@link OPEN_SERVICES} go to `openHandler` (built with `readMaxBytes` {@link OPEN_READ_MAX_BYTES}).
 * Requests for other paths (not RPCs) go to `handler` untouched.
 * @returns the wrapped handler and the `contextValues` function to give `connectNodeAdapter`.
 */
export function nodeEarlyAuth(
  routes: RouteRegistration,
  authenticate: AuthenticateHeaders,
  admission?: Admission,
  fast?: FastRefusal,
): {
  wrap(handler: NodeHandler, openHandler: NodeHandler): NodeHandler;
  contextValues(req: NodeRequest): ContextValues;
} {
  const paths = rpcPaths(routes);
  const principals = new WeakMap<object, Principal>();
  return {
    contextValues(req) {
      const p = principals.get(req);
      return p ? contextValuesFor(p) : createContextValues();
    },
    wrap(handler, openHandler) {
      return (req, res) => {
        const path = (req.url ?? "").split("?")[0]!;
        const route = paths.get(path);
        if (route === undefined || req.method === "OPTIONS") return handler(req, res);
        const refusal = fast?.node(path, req.method, req.headers);
        if (refusal) return writeEncodedNode(req, res, refusal.status, refusal.headerObject, refusal.body);
        void gateRequest(authenticate, route, headersOf(req), admission).then((gate) => {
          if (gate.kind === "refused") return writeEarlyNode(req, res, gate.error);
          if (gate.kind === "open") {
            if (Number(req.headers["content-length"] ?? "0") > OPEN_READ_MAX_BYTES)
              return writeEarlyNode(req, res, openBodyTooLarge());
            return openHandler(req, res);
          }
          principals.set(req, gate.principal);
          if (gate.release) {
            const release = gate.release;
            res.once("close", release);
            res.once("finish", release);
          }
          handler(req, res);
        });
      };
    },
  };
}
