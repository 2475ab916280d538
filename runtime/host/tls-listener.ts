/**
 * The TLS listener (docs/architecture.md "Transport"): one port that does ALPN. `node:http2` `createSecureServer` with
 * `allowHTTP1` answers `h2` (gRPC, Connect, gRPC-Web over HTTP/2) and `http/1.1` (Connect and
 * gRPC-Web for browsers and HTTP/1.1 clients) on the same socket, through `connectNodeAdapter` built
 * from the same route registration and interceptors as the plaintext listeners.
 *
 * Requests that are not RPCs (`/health`, `/v1/*`, `/metrics`, the web console and its assets, CORS
 * preflights) are proxied to the HTTP host (`Bun.serve`: the Hono app plus the console bundle,
 * which only `Bun.serve` can serve) bound to a private Unix socket — so every non-RPC route behaves
 * exactly as on the plaintext listener.
 * @module
 */
import { mkdtempSync, rmSync } from "node:fs";
import {
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type ServerResponse,
} from "node:http";
import {
  createSecureServer,
  type Http2SecureServer,
  type Http2ServerRequest,
  type Http2ServerResponse,
  type Http2Session,
} from "node:http2";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type { TLSSocket } from "node:tls";
import { cors as connectCors, type Interceptor } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import type { Admission } from "./admission.ts";
import { withBadRequestStatusRoutes } from "./bad-request-status.ts";
import type { RouteRegistration } from "./connect-app.ts";
import { applyConnectionLimits, type ConnectionLimits } from "./connection-limits.ts";
import { type AuthenticateHeaders, type NodeHandler, nodeEarlyAuth, OPEN_READ_MAX_BYTES } from "./early-auth.ts";
import { createFastRefusal } from "./fast-refusal.ts";
import { COMPRESS_MIN_BYTES, type GrpcListener } from "./grpc-listener.ts";

/** Options of {@link startTlsListener}. */
export interface TlsListenerOptions {
  /** Service registration (same as the other listeners'). */
  routes: RouteRegistration;
  /** Interface to bind. */
  host: string;
  /** Port (0 picks a free one). */
  port: number;
  /** Certificate chain, PEM. */
  cert: string | Buffer;
  /** Private key of the certificate, PEM. */
  key: string | Buffer;
  /** Largest request message in bytes (`ResourceExhausted` beyond). */
  readMaxBytes: number;
  /** Server interceptors around every RPC (the other listeners', same order). */
  interceptors?: Interceptor[];
  /** Unix socket of the HTTP host that answers every non-RPC request (see {@link createInnerSocketPath}). */
  innerSocketPath: string;
  /** Origins allowed by CORS on RPC responses (the HTTP host answers preflights). @default "*" */
  corsOrigin?: string | string[];
  /** Authenticates each RPC from its headers before its body is read (`early-auth.ts`). Omitted: no early check. */
  authenticate?: AuthenticateHeaders;
  /** Connection cap, handshake and idle timeouts (`connection-limits.ts`). Omitted: none. */
  connectionLimits?: ConnectionLimits;
  /** Admission control of unary calls, with `authenticate` (`admission.ts`). Omitted: none. */
  admission?: Admission;
}

/** A started TLS listener: same shape as the gRPC listener, so the server closes either alike. */
export type TlsListener = GrpcListener;

/** Folders made by {@link createInnerSocketPath}, removed when their listener closes. */
const socketDirs = new Set<string>();

/**
 * A path for the HTTP host's private Unix socket, in a fresh temporary folder readable only by
 * this user (mode 0700). {@link startTlsListener}'s `close()` (or its failure) removes the folder.
 * @returns the socket path (short enough for the 108-byte `sun_path` limit under the usual tmpdir).
 */
export function createInnerSocketPath(): string {
  const dir = mkdtempSync(join(tmpdir(), "dcsm-tls-"));
  socketDirs.add(dir);
  return join(dir, "http.sock");
}

/** Removes the folder of a socket path made by {@link createInnerSocketPath} (once; later calls do nothing). */
export function removeSocketDir(socketPath: string): void {
  const dir = dirname(socketPath);
  if (!socketDirs.delete(dir)) return;
  rmSync(dir, { recursive: true, force: true });
}

/** Headers that belong to one connection (RFC 9113 8.2.2) and never cross the proxy. */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
  "te",
  "http2-settings",
]);

function forwardHeaders(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined || k.startsWith(":") || HOP_BY_HOP.has(k)) continue;
    out[k] = v;
  }
  return out;
}

/** A request as `allowHTTP1` delivers it: HTTP/1.1 objects from `node:http`, or the HTTP/2 compatibility ones. */
type NodeRequest = IncomingMessage | Http2ServerRequest;
/** The response matching {@link NodeRequest}; only the methods both share are used. */
type NodeResponse = Pick<
  ServerResponse,
  "setHeader" | "headersSent" | "writableFinished" | "end" | "destroy" | "on"
> & {
  writeHead(status: number, headers: OutgoingHttpHeaders): unknown;
} & NodeJS.WritableStream;

/**
 * A request listener that relays a request to the HTTP server on `socketPath` and streams the
 * answer back, on HTTP/1.1 and HTTP/2 alike. `:authority` becomes `Host` so absolute URLs built
 * by the inner app name the public address. An unreachable inner server answers 502.
 */
function proxyTo(socketPath: string): (req: NodeRequest, res: NodeResponse) => void {
  return (req, res) => {
    const headers = forwardHeaders(req.headers);
    headers.host = (req.headers as Record<string, string | undefined>)[":authority"] ?? req.headers.host ?? "localhost";
    headers["x-forwarded-proto"] = "https";
    const upstream = httpRequest({ socketPath, method: req.method, path: req.url, headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, forwardHeaders(answer.headers));
      answer.pipe(res);
      answer.on("error", () => res.destroy());
    });
    upstream.on("error", () => {
      if (!res.headersSent) {
        res.writeHead(502, { "content-type": "text/plain" });
        res.end("bad gateway");
      } else res.destroy();
    });
    res.on("close", () => {
      if (!res.writableFinished) upstream.destroy();
    });
    req.pipe(upstream);
  };
}

/** Adds the CORS response headers the Hono app would add to an RPC answer (`*` or an allowed origin). */
function setCorsHeaders(req: NodeRequest, res: NodeResponse, allowed: string | string[]): void {
  const origin = req.headers.origin;
  if (typeof origin !== "string") return;
  if (allowed === "*") res.setHeader("access-control-allow-origin", "*");
  else if ((Array.isArray(allowed) ? allowed : [allowed]).includes(origin)) {
    res.setHeader("access-control-allow-origin", origin);
    res.setHeader("vary", "Origin");
  } else return;
  res.setHeader("access-control-expose-headers", connectCors.exposedHeaders.join(","));
}

/**
 * Starts the one-port TLS listener.
 * @param options - routes, address, PEM certificate and key, limits, interceptors and the inner
 *   HTTP host's socket.
 * @returns the bound port and `close(graceMs)`: stops accepting, lets open calls finish for up to
 *   `graceMs` (default 2000), then cuts remaining connections; removes the inner socket's folder.
 * @throws the listen error (e.g. EADDRINUSE), or a TLS error when the certificate or key is
 *   unusable (e.g. the key does not match the certificate).
 */
export async function startTlsListener(options: TlsListenerOptions): Promise<TlsListener> {
  const fallback = proxyTo(options.innerSocketPath);
  const adapterOptions = {
    routes: withBadRequestStatusRoutes(options.routes), // undecodable requests: InvalidArgument, not Internal
    grpc: true,
    grpcWeb: true,
    connect: true,
    readMaxBytes: options.readMaxBytes,
    writeMaxBytes: options.readMaxBytes, // responses are bounded like requests
    compressMinBytes: COMPRESS_MIN_BYTES,
    interceptors: options.interceptors ?? [],
    fallback: (req: NodeRequest, res: unknown) => fallback(req, res as NodeResponse),
  };
  let adapter: NodeHandler = connectNodeAdapter(adapterOptions) as NodeHandler;
  if (options.authenticate) {
    const early = nodeEarlyAuth(
      options.routes,
      options.authenticate,
      options.admission,
      options.admission ? createFastRefusal(options.routes, options.admission) : undefined,
    );
    adapter = early.wrap(
      connectNodeAdapter({ ...adapterOptions, contextValues: early.contextValues }) as NodeHandler,
      connectNodeAdapter({ ...adapterOptions, readMaxBytes: OPEN_READ_MAX_BYTES }) as NodeHandler,
    );
  }
  const corsOrigin = options.corsOrigin ?? "*";
  // Open HTTP/1.1 sockets with their count of unfinished requests (idle ones close at once on shutdown).
  const http1 = new Map<TLSSocket, number>();
  let closing = false;
  const handler = (req: NodeRequest, res: NodeResponse) => {
    if (req.httpVersionMajor === 1) {
      const sock = req.socket as unknown as TLSSocket;
      http1.set(sock, (http1.get(sock) ?? 0) + 1);
      res.on("close", () => {
        const left = (http1.get(sock) ?? 1) - 1;
        http1.set(sock, left);
        if (closing && left === 0) sock.destroy();
      });
    }
    // Preflights go to the Hono app's CORS middleware; RPCs to Connect.
    if (req.method === "OPTIONS") return fallback(req, res);
    setCorsHeaders(req, res, corsOrigin);
    adapter(req, res as unknown as ServerResponse);
  };
  let server: Http2SecureServer;
  try {
    server = createSecureServer(
      { cert: options.cert, key: options.key, allowHTTP1: true, ALPNProtocols: ["h2", "http/1.1"] },
      handler as unknown as (req: Http2ServerRequest, res: Http2ServerResponse) => void,
    );
  } catch (err) {
    removeSocketDir(options.innerSocketPath);
    throw err;
  }
  if (options.connectionLimits) applyConnectionLimits(server, options.connectionLimits, true);
  const sessions = new Set<Http2Session>();
  server.on("session", (s) => {
    sessions.add(s);
    s.on("close", () => sessions.delete(s));
  });
  server.on("secureConnection", (sock: TLSSocket) => {
    if (sock.alpnProtocol === "h2") return;
    if (!http1.has(sock)) http1.set(sock, 0);
    sock.on("close", () => http1.delete(sock));
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(options.port, options.host, () => {
        server.off("error", reject);
        resolve();
      });
    });
  } catch (err) {
    removeSocketDir(options.innerSocketPath);
    throw err;
  }
  const addr = server.address();
  const bound = typeof addr === "object" && addr ? addr.port : options.port;
  return {
    port: bound,
    async close(graceMs = 2000) {
      closing = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sessions) s.close();
      for (const [sock, open] of http1) if (open === 0) sock.destroy();
      const timer = setTimeout(() => {
        for (const s of sessions) s.destroy();
        for (const sock of http1.keys()) sock.destroy();
      }, graceMs);
      await closed;
      clearTimeout(timer);
      removeSocketDir(options.innerSocketPath);
    },
  };
}
