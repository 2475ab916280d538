/**
 * The gRPC listener: `node:http2` cleartext (h2c) server with `connectNodeAdapter`, from the same
 * route registration as the HTTP host. Real gRPC needs HTTP/2 trailers, which a fetch `Response`
 * cannot send, hence a second listener (DESIGN.md "Transport").
 * @module
 */
import { createServer, type Http2Server } from "node:http2";
import type { Interceptor } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { withBadRequestStatusRoutes } from "./bad-request-status.ts";
import type { RouteRegistration } from "./connect-app.ts";

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
 * @param readMaxBytes - largest request message in bytes (`ResourceExhausted` beyond).
 * @param interceptors - server interceptors around every RPC (the HTTP host's, same order).
 * @throws the listen error (e.g. EADDRINUSE).
 */
export async function startGrpcListener(routes: RouteRegistration, host: string, port: number, readMaxBytes: number, interceptors: Interceptor[] = []): Promise<GrpcListener> {
  const handler = connectNodeAdapter({ routes: withBadRequestStatusRoutes(routes), grpc: true, grpcWeb: false, connect: false, readMaxBytes, interceptors });
  const server: Http2Server = createServer({}, handler);
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
