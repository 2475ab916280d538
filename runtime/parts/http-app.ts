/**
 * The HTTP app part: the Connect routes on a Hono app for `Bun.serve`, with the interceptors both
 * listeners share (metrics outermost, then authentication), authentication and admission before a
 * request body is read (runtime/host/early-auth.ts, runtime/host/admission.ts), and the
 * server's own routes (runtime/parts/host-routes.ts).
 * @module
 */
import type { Interceptor } from "@connectrpc/connect";
import type { VectorIndex } from "../../services/glm/ports.ts";
import type { Authenticator } from "../auth/authenticator.ts";
import { createAuthInterceptor } from "../auth/interceptor.ts";
import type { DcsmConfig } from "../config.ts";
import { createAdmission, type Admission } from "../host/admission.ts";
import { createConnectApp, type RouteRegistration } from "../host/connect-app.ts";
import type { AuthenticateHeaders } from "../host/early-auth.ts";
import type { EmbeddingStack } from "../host/embedding-stack.ts";
import type { Logger } from "../logger.ts";
import { createObservability, type Observability } from "../observability/observability.ts";
import type { SwmRuntime } from "../swm.ts";
import type { StartedPart } from "./part-stack.ts";

/** The app and what the listeners share with it. */
export interface HttpApp {
  /** The Hono app `Bun.serve` runs. */
  app: ReturnType<typeof createConnectApp>;
  /** The Connect routes (the gRPC listener serves the same). */
  routes: RouteRegistration;
  /** Server interceptors, outermost first. */
  interceptors: Interceptor[];
  /** Early authentication from headers. */
  authenticate: AuthenticateHeaders;
  /** Admission control shared by both listeners. */
  admission: Admission;
  /** Metrics registry and `/metrics` response. */
  observability: Observability;
}

/** Builds the app (nothing to stop: the listeners own the sockets). */
export function startHttpApp(
  config: DcsmConfig,
  deps: { routes: RouteRegistration; auth: Authenticator; log: Logger; index: VectorIndex; embedding: EmbeddingStack; swm: SwmRuntime },
): StartedPart<HttpApp> {
  const { auth } = deps;
  const observability = createObservability({ log: deps.log, vectorIndex: deps.index, embedding: deps.embedding, embedBatchSize: config.embedBatchSize, swm: deps.swm });
  const interceptors: Interceptor[] = [observability.interceptor, createAuthInterceptor(auth)];
  // The interceptor stays for calls that reach a router some other way (MCP's in-process link).
  const authenticate: AuthenticateHeaders = (headers) => auth.authenticate(headers);
  const admission = createAdmission({ maxInFlight: config.maxInFlight, maxInFlightPerPrincipal: config.maxInFlightPerPrincipal, retryAfterSeconds: config.retryAfterSeconds });
  const app = createConnectApp({ routes: deps.routes, readMaxBytes: config.maxMessageBytes, interceptors, authenticate, admission });
  return { value: { app, routes: deps.routes, interceptors, authenticate, admission, observability } };
}
