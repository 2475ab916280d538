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
import { type Admission, createAdmission } from "../host/admission.ts";
import { createConnectApp, type RouteRegistration } from "../host/connect-app.ts";
import type { AuthenticateHeaders } from "../host/early-auth.ts";
import { createFastRefusal, type FastRefusal } from "../host/fast-refusal.ts";
import { startLoopLagMonitor } from "../host/loop-lag.ts";
import type { Logger } from "../logger.ts";
import { createObservability, type Observability } from "../observability/observability.ts";
import type { SwmRuntime } from "../swm.ts";
import type { EmbeddingStack } from "./embedding-stack.ts";
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
  /** Process-wide refusals answered before routing and authentication (runtime/host/fast-refusal.ts). */
  fastRefusal: FastRefusal;
  /** Admission counters with the event-loop lag monitor's (for `/health`). */
  admissionStats: () => Record<string, number>;
  /** Metrics registry and `/metrics` response. */
  observability: Observability;
}

/** Builds the app; stopping stops the event-loop lag monitor (the listeners own the sockets). */
export function startHttpApp(
  config: DcsmConfig,
  deps: {
    routes: RouteRegistration;
    auth: Authenticator;
    log: Logger;
    index: VectorIndex;
    embedding: EmbeddingStack;
    swm: SwmRuntime;
  },
): StartedPart<HttpApp> {
  const { auth } = deps;
  const observability = createObservability({
    log: deps.log,
    vectorIndex: deps.index,
    embedding: deps.embedding,
    embedBatchSize: config.embedBatchSize,
    swm: deps.swm,
  });
  const interceptors: Interceptor[] = [observability.interceptor, createAuthInterceptor(auth)];
  // The interceptor stays for calls that reach a router some other way (MCP's in-process link).
  const authenticate: AuthenticateHeaders = (headers) => auth.authenticate(headers);
  // DCSM_ADMISSION_LAG_MS: also refuse while the event loop is congested (runtime/host/loop-lag.ts, docs/overload.md).
  const loopLag = config.admissionLagMs > 0 ? startLoopLagMonitor({ targetMs: config.admissionLagMs }) : undefined;
  const admission = createAdmission(
    {
      maxInFlight: config.maxInFlight,
      maxInFlightPerPrincipal: config.maxInFlightPerPrincipal,
      retryAfterSeconds: config.retryAfterSeconds,
    },
    loopLag,
  );
  const fastRefusal = createFastRefusal(deps.routes, admission);
  const admissionStats = () => ({
    ...admission.stats(),
    loopLagMs: Math.round((loopLag?.lagMs() ?? 0) * 10) / 10,
    congestions: loopLag?.congestions() ?? 0,
  });
  const app = createConnectApp({
    routes: deps.routes,
    readMaxBytes: config.maxMessageBytes,
    interceptors,
    authenticate,
    admission,
  });
  return {
    value: {
      app,
      routes: deps.routes,
      interceptors,
      authenticate,
      admission,
      fastRefusal,
      admissionStats,
      observability,
    },
    stop: () => loopLag?.stop(),
  };
}
