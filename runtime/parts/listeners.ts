/**
 * The listener parts: the HTTP host (`Bun.serve`: Connect, gRPC-Web, the web console and the
 * server's own routes) and the gRPC listener (h2c on `node:http2`). With TLS, one HTTPS port does
 * ALPN for every protocol (runtime/host/tls-listener.ts) and the HTTP host sits behind it on a
 * private Unix socket.
 * @module
 */
import type { DcsmConfig } from "../config.ts";
import consolePage from "../console/index.html";
import { type GrpcListener, startGrpcListener } from "../host/grpc-listener.ts";
import { createInnerSocketPath, removeSocketDir, startTlsListener } from "../host/tls-listener.ts";
import type { Logger } from "../logger.ts";
import { readTlsMaterial } from "../tls-config.ts";
import type { HttpApp } from "./http-app.ts";
import type { StartedPart } from "./part-stack.ts";

/** Open calls get this long to finish when the server stops, in ms; then the rest is cut. */
export const DRAIN_MS = 2000;

/** Where the HTTP host listens. */
export interface HttpEndpoint {
  /** The Bun server. */
  server: ReturnType<typeof Bun.serve>;
  /** Its TCP port (undefined on the TLS inner socket). */
  port?: number;
  /** The private Unix socket the TLS listener relays to, with TLS. */
  innerSocketPath?: string;
  /** The certificate and key, with TLS. */
  tls?: { cert: string | Buffer; key: string | Buffer };
}

/**
 * Reads the TLS material (when configured) and makes the inner socket's private folder; stopping
 * removes the folder.
 * @throws the read error when a certificate or key file vanished since validation.
 */
export function startTlsMaterial(config: DcsmConfig): StartedPart<Pick<HttpEndpoint, "innerSocketPath" | "tls">> {
  const tls = readTlsMaterial(config);
  if (!tls) return { value: {} };
  const innerSocketPath = createInnerSocketPath();
  return { value: { tls, innerSocketPath }, stop: () => removeSocketDir(innerSocketPath) };
}

/**
 * Starts the HTTP host on `config.host:config.httpPort`, or on the inner socket with TLS. Draining
 * lets open requests finish for up to {@link DRAIN_MS}, then cuts the rest; stopping closes
 * whatever remains.
 * @throws the listen error (EADDRINUSE when the port is taken).
 */
export function startHttpHost(
  config: DcsmConfig,
  http: HttpApp,
  tls: Pick<HttpEndpoint, "innerSocketPath" | "tls">,
  log: Logger,
): StartedPart<HttpEndpoint> {
  const server = Bun.serve({
    // Keep-alive connections outlive clients' idle pools (config.ts `httpIdleTimeoutS`); behind the
    // TLS front (a Unix socket) the front owns the client connections.
    ...(tls.innerSocketPath
      ? { unix: tls.innerSocketPath }
      : { hostname: config.host, port: config.httpPort, idleTimeout: config.httpIdleTimeoutS }),
    // The web console, bundled by Bun from runtime/console/ (embedded by `bun build --compile`).
    routes: { "/": consolePage },
    development: false,
    // Process-wide refusals first, before Hono's routing and authentication (fast-refusal.ts).
    fetch: (req, srv) => http.fastRefusal.fetch(req) ?? http.app.fetch(req, srv),
    maxRequestBodySize: config.maxMessageBytes + 1024,
    error(err) {
      log.error({ err }, "unhandled HTTP error");
      return new Response("internal error", { status: 500 });
    },
  });
  return {
    value: { server, port: server.port, ...tls },
    async drain() {
      const cut = setTimeout(() => void server.stop(true), DRAIN_MS);
      await server.stop(false);
      clearTimeout(cut);
    },
    stop: () => server.stop(true),
  };
}

/**
 * Starts the gRPC listener on `config.grpcPort`, or the TLS listener on `config.httpPort` with TLS.
 * Draining (which also releases the port) lets open calls finish for up to {@link DRAIN_MS}.
 * @throws the listen error (EADDRINUSE when the port is taken); a TLS error for an unusable
 *   certificate or key.
 */
export async function startRpcListener(
  config: DcsmConfig,
  http: HttpApp,
  endpoint: HttpEndpoint,
): Promise<StartedPart<GrpcListener>> {
  const connectionLimits = {
    maxConnections: config.grpcMaxConnections,
    handshakeTimeoutMs: config.grpcHandshakeTimeoutMs,
    idleTimeoutMs: config.grpcIdleTimeoutMs,
  };
  const { routes, interceptors, authenticate, admission } = http;
  const listener =
    endpoint.tls && endpoint.innerSocketPath
      ? await startTlsListener({
          routes,
          host: config.host,
          port: config.httpPort,
          ...endpoint.tls,
          readMaxBytes: config.maxMessageBytes,
          interceptors,
          innerSocketPath: endpoint.innerSocketPath,
          authenticate,
          connectionLimits,
          admission,
        })
      : await startGrpcListener(
          routes,
          config.host,
          config.grpcPort,
          config.maxMessageBytes,
          interceptors,
          authenticate,
          connectionLimits,
          admission,
        );
  return { value: listener, drain: () => listener.close(DRAIN_MS) };
}
