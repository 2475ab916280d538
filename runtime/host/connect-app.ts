/**
 * The HTTP host: Hono on `Bun.serve` serving the Connect protocol (JSON and binary) and gRPC-Web,
 * with CORS for browsers (DESIGN.md "Transport"). Routes come from the same registration function
 * the gRPC listener uses, so every service answers identically on all protocols.
 * @module
 */
import { cors as connectCors, createConnectRouter, type ConnectRouter, type Interceptor } from "@connectrpc/connect";
import { createFetchHandler, type UniversalHandler } from "@connectrpc/connect/protocol";
import { Hono } from "hono";
import { cors } from "hono/cors";
import { withBadRequestStatusRoutes } from "./bad-request-status.ts";

/** Registers services on a router; shared by the HTTP and gRPC listeners. */
export type RouteRegistration = (router: ConnectRouter) => void;

/** Options of {@link createConnectApp}. */
export interface ConnectAppOptions {
  /** Service registration. */
  routes: RouteRegistration;
  /** Largest request body in bytes; larger requests fail with `ResourceExhausted`. */
  readMaxBytes: number;
  /** Origins allowed by CORS. @default "*" */
  corsOrigin?: string | string[];
  /** Server interceptors run around every RPC (authentication, metrics), outermost first. */
  interceptors?: Interceptor[];
}

/** Bun's server object as Hono exposes it in `c.env` under `Bun.serve`. */
interface BunServerEnv {
  timeout?: (req: Request, seconds: number) => void;
}

/** One chunk as an async iterable. */
function single(bytes: Uint8Array): AsyncIterable<Uint8Array> {
  return {
    [Symbol.asyncIterator]() {
      let done = false;
      return {
        next: async () => (done ? { done: true, value: undefined } : ((done = true), { done: false, value: bytes })),
        return: async () => ((done = true), { done: true, value: undefined }),
      };
    },
  };
}

/**
 * A fetch handler for a unary method: reads the request body whole (`arrayBuffer()`) and answers
 * with the response bytes, not a `ReadableStream` (DESIGN.md "Transport": streaming bodies cost
 * Bun a stream pipe per call; whole bodies measured +20–55% throughput, bench `rpc.unary/*`). Bun
 * bounds the body with `maxRequestBodySize`; the Connect handler still enforces `readMaxBytes`.
 */
function createUnaryFetchHandler(handler: UniversalHandler): (req: Request) => Promise<Response> {
  return async (req) => {
    let bytes: ArrayBuffer;
    try {
      bytes = await req.arrayBuffer();
    } catch {
      // The client went away or sent a broken body (found by tests/e2e/fuzz.test.ts): answer 400
      // instead of letting Hono log the AbortError and answer 500.
      return Response.json({ code: "invalid_argument", message: "the request body could not be read" }, { status: 400 });
    }
    const body = single(new Uint8Array(bytes));
    const res = await handler({ httpVersion: "", method: req.method, url: req.url, header: req.headers, body, signal: req.signal });
    let out: Uint8Array | null = null;
    if (res.body) {
      const chunks: Uint8Array[] = [];
      for await (const c of res.body) chunks.push(c);
      out = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
    }
    return new Response(out as BodyInit | null, { status: res.status, headers: res.header });
  };
}

/**
 * Builds the Hono app with every Connect/gRPC-Web route mounted and CORS preflight handled.
 * Unary routes read and write whole bodies; streaming routes stream, and lift Bun's 10 s idle
 * timeout for their request (`server.timeout(req, 0)`).
 * @returns the app; extra routes (health, static files) can be added by the caller.
 */
export function createConnectApp(options: ConnectAppOptions): Hono<{ Bindings: BunServerEnv }> {
  const router = createConnectRouter({ grpc: false, grpcWeb: true, connect: true, readMaxBytes: options.readMaxBytes, interceptors: options.interceptors ?? [] });
  withBadRequestStatusRoutes(options.routes)(router); // undecodable requests: InvalidArgument, not Internal
  const app = new Hono<{ Bindings: BunServerEnv }>();
  app.use(
    "*",
    cors({
      origin: options.corsOrigin ?? "*",
      // DELETE and the Mcp-* / Last-Event-ID headers: browser MCP clients of /mcp (MCP Streamable HTTP).
      allowMethods: [...connectCors.allowedMethods, "DELETE"],
      allowHeaders: [...connectCors.allowedHeaders, "Authorization", "Api-Key", "X-Request-Id", "Mcp-Session-Id", "Mcp-Protocol-Version", "Last-Event-ID"],
      exposeHeaders: [...connectCors.exposedHeaders, "X-Request-Id", "Mcp-Session-Id"],
      maxAge: 7200,
    }),
  );
  for (const handler of router.handlers) {
    const streaming = handler.method.methodKind !== "unary";
    const fetchHandler = streaming ? createFetchHandler(handler) : createUnaryFetchHandler(handler);
    app.on(handler.allowedMethods, handler.requestPath, (c) => {
      if (streaming) c.env?.timeout?.(c.req.raw, 0);
      return fetchHandler(c.req.raw);
    });
  }
  return app;
}
