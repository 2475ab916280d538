/**
 * The HTTP host: Hono on `Bun.serve` serving the Connect protocol (JSON and binary) and gRPC-Web,
 * with CORS for browsers (docs/architecture.md "Transport"). Routes come from the same registration function
 * the gRPC listener uses, so every service answers identically on all protocols.
 * @module
 */
import {
  type ConnectError,
  type ConnectRouter,
  type ContextValues,
  cors as connectCors,
  createConnectRouter,
  type Interceptor,
} from "@connectrpc/connect";
import {
  type UniversalHandler,
  universalServerRequestFromFetch,
  universalServerResponseToFetch,
} from "@connectrpc/connect/protocol";
import { Hono } from "hono";
import { cors } from "hono/cors";
import type { Admission } from "./admission.ts";
import { withBadRequestStatusRoutes } from "./bad-request-status.ts";
import {
  type AuthenticateHeaders,
  contextValuesFor,
  earlyErrorResponse,
  gateRequest,
  OPEN_READ_MAX_BYTES,
  openBodyTooLarge,
} from "./early-auth.ts";

/** Registers services on a router; shared by the HTTP and gRPC listeners. */
export type RouteRegistration = (router: ConnectRouter) => void;

/** Options of {@link createConnectApp}. */
export interface ConnectAppOptions {
  /** Service registration. */
  routes: RouteRegistration;
  /** Largest request body and response message in bytes; larger ones fail with `ResourceExhausted`. */
  readMaxBytes: number;
  /** Origins allowed by CORS. @default "*" */
  corsOrigin?: string | string[];
  /** Server interceptors run around every RPC (authentication, metrics), outermost first. */
  interceptors?: Interceptor[];
  /**
   * Authenticates each RPC from its headers before its body is read (see `early-auth.ts`):
   * refused callers get `Unauthenticated` with the body unread. Omitted: no early check.
   */
  authenticate?: AuthenticateHeaders;
  /** Admission control of unary calls (with `authenticate`; see `admission.ts`). Omitted: none. */
  admission?: Admission;
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
        next: async () => {
          if (done) return { done: true, value: undefined };
          done = true;
          return { done: false, value: bytes };
        },
        return: async () => {
          done = true;
          return { done: true, value: undefined };
        },
      };
    },
  };
}

/**
 * Reads a request body of at most `max` bytes, or returns null (and cancels the read) beyond:
 * the body limit of calls without credentials.
 */
export async function readBodyUpTo(req: Request, max: number): Promise<Uint8Array | null> {
  const declared = Number(req.headers.get("content-length") ?? "0");
  if (declared > max) return null;
  if (!req.body) return new Uint8Array(0);
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel().catch(() => {});
      return null;
    }
    chunks.push(value);
  }
  return chunks.length === 1 ? chunks[0]! : new Uint8Array(Buffer.concat(chunks));
}

/** The request as Connect's universal handler takes it, with the host's context values and an optional body read earlier. */
function universalRequest(req: Request, contextValues: ContextValues | undefined, body: Uint8Array | undefined) {
  const u = universalServerRequestFromFetch(req, {});
  return { ...u, contextValues, ...(body ? { body: single(body) } : {}) };
}

/**
 * A fetch handler for a unary method: reads the request body whole (`arrayBuffer()`) and answers
 * with the response bytes, not a `ReadableStream` (docs/architecture.md "Transport": streaming bodies cost
 * Bun a stream pipe per call; whole bodies measured +20–55% throughput, bench `rpc.unary/*`). Bun
 * bounds the body with `maxRequestBodySize`; the Connect handler still enforces `readMaxBytes`.
 */
function createUnaryFetchHandler(
  handler: UniversalHandler,
): (req: Request, contextValues?: ContextValues, readBody?: Uint8Array) => Promise<Response> {
  return async (req, contextValues, readBody) => {
    let bytes: Uint8Array;
    if (readBody) bytes = readBody;
    else {
      try {
        bytes = new Uint8Array(await req.arrayBuffer());
      } catch {
        // The client went away or sent a broken body (found by tests/e2e/fuzz.test.ts): answer 400
        // instead of letting Hono log the AbortError and answer 500.
        return Response.json(
          { code: "invalid_argument", message: "the request body could not be read" },
          { status: 400 },
        );
      }
    }
    const body = single(bytes);
    const res = await handler({
      httpVersion: "",
      method: req.method,
      url: req.url,
      header: req.headers,
      body,
      signal: req.signal,
      contextValues,
    });
    let out: Uint8Array | null = null;
    if (res.body) {
      const chunks: Uint8Array[] = [];
      for await (const c of res.body) chunks.push(c);
      out = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
    }
    return new Response(out as BodyInit | null, { status: res.status, headers: res.header });
  };
}

/** A fetch handler for a streaming method: the response streams. */
function createStreamingFetchHandler(
  handler: UniversalHandler,
): (req: Request, contextValues?: ContextValues, readBody?: Uint8Array) => Promise<Response> {
  return async (req, contextValues, readBody) =>
    universalServerResponseToFetch(await handler(universalRequest(req, contextValues, readBody)));
}

/**
 * Fails a call before its body is decoded (see `early-auth.ts`). At most
 * {@link OPEN_READ_MAX_BYTES} of the body are read and dropped, so a client sending a small body
 * (chunked or not) finishes and reads the answer (closing under it made it fail with EPIPE); a body
 * declared or found larger (`overLimit`: already found so) is not read further and the connection closes.
 */
async function earlyFetchResponse(req: Request, error: ConnectError, overLimit = false): Promise<Response> {
  const r = earlyErrorResponse(req.headers.get("content-type"), error);
  const length = Number(req.headers.get("content-length") ?? Number.NaN);
  const declaredLarge = Number.isSafeInteger(length) && length > OPEN_READ_MAX_BYTES;
  const drained =
    !overLimit && !declaredLarge && (await readBodyUpTo(req, OPEN_READ_MAX_BYTES).catch(() => null)) !== null;
  if (!drained) r.headers.set("connection", "close");
  return new Response(r.body as BodyInit | null, { status: r.status, headers: r.headers });
}

/**
 * Builds the Hono app with every Connect/gRPC-Web route mounted and CORS preflight handled.
 * With `authenticate`, each RPC is authenticated from its headers before its body is read.
 * Unary routes read and write whole bodies; streaming routes stream, and lift Bun's idle timeout
 * (`DCSM_HTTP_IDLE_TIMEOUT_S`) for their request (`server.timeout(req, 0)`).
 * @returns the app; extra routes (health, static files) can be added by the caller.
 */
export function createConnectApp(options: ConnectAppOptions): Hono<{ Bindings: BunServerEnv }> {
  // Responses are bounded like requests: a larger one is ResourceExhausted, never sent.
  const router = createConnectRouter({
    grpc: false,
    grpcWeb: true,
    connect: true,
    readMaxBytes: options.readMaxBytes,
    writeMaxBytes: options.readMaxBytes,
    interceptors: options.interceptors ?? [],
  });
  withBadRequestStatusRoutes(options.routes)(router); // undecodable requests: InvalidArgument, not Internal
  const app = new Hono<{ Bindings: BunServerEnv }>();
  app.use(
    "*",
    cors({
      origin: options.corsOrigin ?? "*",
      // DELETE and the Mcp-* / Last-Event-ID headers: browser MCP clients of /mcp (MCP Streamable HTTP).
      allowMethods: [...connectCors.allowedMethods, "DELETE"],
      allowHeaders: [
        ...connectCors.allowedHeaders,
        "Authorization",
        "Api-Key",
        "X-Request-Id",
        "Mcp-Session-Id",
        "Mcp-Protocol-Version",
        "Last-Event-ID",
      ],
      exposeHeaders: [...connectCors.exposedHeaders, "X-Request-Id", "Mcp-Session-Id"],
      maxAge: 7200,
    }),
  );
  const authenticate = options.authenticate;
  for (const handler of router.handlers) {
    const streaming = handler.method.methodKind !== "unary";
    const fetchHandler = streaming ? createStreamingFetchHandler(handler) : createUnaryFetchHandler(handler);
    const route = { service: handler.service.typeName, streaming };
    app.on(handler.allowedMethods, handler.requestPath, async (c) => {
      const req = c.req.raw;
      let contextValues: ContextValues | undefined;
      let readBody: Uint8Array | undefined;
      let release: (() => void) | undefined;
      if (authenticate) {
        const gate = await gateRequest(authenticate, route, req.headers, options.admission);
        if (gate.kind === "refused") return earlyFetchResponse(req, gate.error);
        if (gate.kind === "authenticated") {
          contextValues = contextValuesFor(gate.principal);
          release = gate.release;
        } else {
          const bytes = await readBodyUpTo(req, OPEN_READ_MAX_BYTES).catch(() => new Uint8Array(0));
          if (!bytes) return earlyFetchResponse(req, openBodyTooLarge(), true);
          readBody = bytes;
        }
      }
      if (streaming) c.env?.timeout?.(req, 0);
      try {
        return await fetchHandler(req, contextValues, readBody);
      } finally {
        release?.(); // unary: the whole response is built here
      }
    });
  }
  return app;
}
