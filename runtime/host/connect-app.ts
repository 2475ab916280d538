/**
 * The HTTP host: Hono on `Bun.serve` serving the Connect protocol (JSON and binary) and gRPC-Web,
 * with CORS for browsers (DESIGN.md "Transport"). Routes come from the same registration function
 * the gRPC listener uses, so every service answers identically on all protocols.
 * @module
 */
import { cors as connectCors, createConnectRouter, type ConnectRouter } from "@connectrpc/connect";
import { createFetchHandler } from "@connectrpc/connect/protocol";
import { Hono } from "hono";
import { cors } from "hono/cors";

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
}

/** Bun's server object as Hono exposes it in `c.env` under `Bun.serve`. */
interface BunServerEnv {
  timeout?: (req: Request, seconds: number) => void;
}

/**
 * Builds the Hono app with every Connect/gRPC-Web route mounted and CORS preflight handled.
 * Streaming routes lift Bun's 10 s idle timeout for their request (`server.timeout(req, 0)`).
 * @returns the app; extra routes (health, static files) can be added by the caller.
 */
export function createConnectApp(options: ConnectAppOptions): Hono<{ Bindings: BunServerEnv }> {
  const router = createConnectRouter({ grpc: false, grpcWeb: true, connect: true, readMaxBytes: options.readMaxBytes });
  options.routes(router);
  const app = new Hono<{ Bindings: BunServerEnv }>();
  app.use(
    "*",
    cors({
      origin: options.corsOrigin ?? "*",
      allowMethods: [...connectCors.allowedMethods],
      allowHeaders: [...connectCors.allowedHeaders, "Authorization", "Api-Key"],
      exposeHeaders: [...connectCors.exposedHeaders],
      maxAge: 7200,
    }),
  );
  for (const handler of router.handlers) {
    const fetchHandler = createFetchHandler(handler);
    const streaming = handler.method.methodKind !== "unary";
    app.on(handler.allowedMethods, handler.requestPath, (c) => {
      if (streaming) c.env?.timeout?.(c.req.raw, 0);
      return fetchHandler(c.req.raw);
    });
  }
  return app;
}
