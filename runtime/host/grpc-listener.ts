/**
 * The gRPC listener: `node:http2` cleartext (h2c) server with `connectNodeAdapter`, from the same
 * route registration as the HTTP host. Real gRPC needs HTTP/2 trailers, which a fetch `Response`
 * cannot send, hence a second listener (docs/architecture.md "Transport").
 * @module
 */
import { createServer, type Http2Server } from "node:http2";
import type { Interceptor } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import type { Admission } from "./admission.ts";
import { withBadRequestStatusRoutes } from "./bad-request-status.ts";
import type { RouteRegistration } from "./connect-app.ts";
import { applyConnectionLimits, type ConnectionLimits } from "./connection-limits.ts";
import { type AuthenticateHeaders, nodeEarlyAuth, OPEN_READ_MAX_BYTES } from "./early-auth.ts";
import { createFastRefusal } from "./fast-refusal.ts";

/**
 * Smallest response message the `node:http2` listeners compress (when the client accepts gzip or
 * brotli), bytes. connect-node's default, 1 KiB, had gzip take 6% of the server's main thread in
 * the load test (docs/overload.md): on the networks DCSM serves, compressing search pages of a few
 * KiB costs the one event loop more than the bytes it saves. The HTTP host (Connect, gRPC-Web)
 * does not compress responses at all.
 */
export const COMPRESS_MIN_BYTES = 64 * 1024;

/** A started gRPC listener. */
export interface GrpcListener {
  /** The port bound. */
  port: number;
  /** Stops accepting, waits up to `graceMs` for open calls, then closes remaining sessions. */
  close(graceMs?: number): Promise<void>;
}

/**
 * Starts the h2c gRPC listener.
 * @param routes - service registration (same as the HTTP host's).
 * @param host - interface to bind.
 * @param port - port (0 picks a free one).
 * @param readMaxBytes - largest request or response message in bytes (`ResourceExhausted` beyond).
 * @param interceptors - server interceptors around every RPC (the HTTP host's, same order).
 * @param authenticate - when given, each RPC is authenticated from its headers before its body is
 *   read (`early-auth.ts`): refused callers get `Unauthenticated` and their stream is reset.
 * @param connectionLimits - connection cap, handshake and idle timeouts (`connection-limits.ts`); none when omitted.
 * @param admission - admission control of unary calls, with `authenticate` (`admission.ts`); none when omitted.
 * @throws the listen error (e.g. EADDRINUSE).
 */
export async function startGrpcListener(
  routes: RouteRegistration,
  host: string,
  port: number,
  readMaxBytes: number,
  interceptors: Interceptor[] = [],
  authenticate?: AuthenticateHeaders,
  connectionLimits?: ConnectionLimits,
  admission?: Admission,
): Promise<GrpcListener> {
  // Responses are bounded like requests: a larger one is ResourceExhausted, never sent.
  const base = {
    routes: withBadRequestStatusRoutes(routes),
    grpc: true,
    grpcWeb: false,
    connect: false,
    interceptors,
    writeMaxBytes: readMaxBytes,
    compressMinBytes: COMPRESS_MIN_BYTES,
  };
  let handler = connectNodeAdapter({ ...base, readMaxBytes });
  if (authenticate) {
    const early = nodeEarlyAuth(
      routes,
      authenticate,
      admission,
      admission ? createFastRefusal(routes, admission) : undefined,
    );
    handler = early.wrap(
      connectNodeAdapter({ ...base, readMaxBytes, contextValues: early.contextValues }),
      connectNodeAdapter({ ...base, readMaxBytes: OPEN_READ_MAX_BYTES }),
    ) as typeof handler;
  }
  const server: Http2Server = createServer({}, handler);
  if (connectionLimits) applyConnectionLimits(server, connectionLimits);
  const sessions = new Set<import("node:http2").Http2Session>();
  server.on("session", (s) => {
    sessions.add(s);
    s.on("close", () => sessions.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const addr = server.address();
  const bound = typeof addr === "object" && addr ? addr.port : port;
  return {
    port: bound,
    async close(graceMs = 2000) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sessions) s.close();
      const timer = setTimeout(() => {
        for (const s of sessions) s.destroy();
      }, graceMs);
      await closed;
      clearTimeout(timer);
    },
  };
}
