/**
 * The server's own HTTP routes beside the RPCs: `/metrics` (Prometheus), `/health`, `/whoami`,
 * the OpenAI-compatible `/v1/*` and MCP at `/mcp`. With authentication on, `/metrics` and the
 * details of `/health` need the admin right on every namespace.
 * @module
 */
import { createRouterTransport } from "@connectrpc/connect";
import type { Context, Next } from "hono";
import { can } from "../../services/common/access.ts";
import type { VectorIndex } from "../../services/glm/ports.ts";
import type { Embedder } from "../../services/kps/ports.ts";
import { ANONYMOUS, type Authenticator } from "../auth/authenticator.ts";
import { callerContext } from "../auth/caller-context.ts";
import { whoAmIHandler } from "../auth/whoami.ts";
import type { DcsmConfig } from "../config.ts";
import { type HealthRegistry, ServingStatus } from "../host/health.ts";
import { createDcsmLink } from "../mcp/dcsm-link.ts";
import { mountMcpEndpoint } from "../mcp/http-endpoint.ts";
import type { SwmRuntime } from "../swm.ts";
import type { EmbeddingStack } from "./embedding-stack.ts";
import type { HttpApp } from "./http-app.ts";
import type { StartedPart } from "./part-stack.ts";
import type { Storage } from "./storage.ts";

/**
 * `/metrics` guard: with authentication on, 401 without valid credentials and 403 without the
 * admin right on every namespace (`*`); otherwise the next handler.
 */
export function metricsAccess(auth: Authenticator) {
  return async (c: Context, next: Next) => {
    if (!auth.enabled) return next();
    const p = await auth.authenticate(c.req.raw.headers).catch(() => undefined);
    if (!p)
      return c.text("credentials required: authorization: Bearer <admin API key or JWT>\n", 401, {
        "www-authenticate": "Bearer",
      });
    if (!can(p, undefined, "admin")) return c.text(`${p.id} may not read /metrics (needs the admin right on *)\n`, 403);
    return next();
  };
}

/** What `/health` reports on. */
export interface HealthSources {
  /** Decides who sees the details. */
  auth: Authenticator;
  /** Serving status ("" = the whole server). */
  health: HealthRegistry;
  /** The model (id and dimension). */
  model: Embedder;
  /** The store (KEM count and kind). */
  storage: Storage;
  /** The vector index (its stats). */
  index: VectorIndex;
  /** The embedding stack (readiness, queue and cache counters). */
  embedding: EmbeddingStack;
  /** SWM (working-set and write-behind stats). */
  swm: SwmRuntime;
  /** SWM's backend as reported: "redis" or "memory". */
  swmBackend: string;
  /** Admission counters (calls in progress, refusals by cause, event-loop lag), when admission runs. */
  admission?: () => Record<string, number>;
}

/**
 * `/health`: 200 `{"status":"ok"}` once serving, 503 `{"status":"starting"}` before; the details
 * (model, counts, index, cache and SWM counters, admission counters, RSS in bytes) for everyone without
 * authentication, only for an admin on every namespace with it.
 */
export function healthHandler(s: HealthSources) {
  return async (c: Context) => {
    const serving = s.health.get("") === ServingStatus.SERVING;
    const code = serving ? 200 : 503;
    const status = serving ? "ok" : "starting";
    if (s.auth.enabled) {
      const p = await s.auth.authenticate(c.req.raw.headers).catch(() => undefined);
      if (!p || !can(p, undefined, "admin")) return c.json({ status }, code);
    }
    return c.json(
      {
        status,
        model: s.model.modelId,
        dimension: s.model.dimension,
        kems: await s.storage.store.count(),
        store: s.storage.kind,
        vectorIndex: s.index.stats(),
        embedding: s.embedding.stats(),
        swm: {
          backend: s.swmBackend,
          workingSet: await s.swm.backend.workingSet.stats(),
          writeBehind: await s.swm.writeBehindStats(),
        },
        ...(s.admission ? { admission: s.admission() } : {}),
        rssBytes: process.memoryUsage.rss(),
      },
      code,
    );
  };
}

/**
 * Mounts the routes on the app. MCP's tools call the services in process through the same
 * interceptors (metrics, authentication with the caller's forwarded credential, scope guards).
 * Draining closes the MCP sessions (their open streams would hold the HTTP listener's drain).
 */
export function startHostRoutes(config: DcsmConfig, http: HttpApp, sources: HealthSources): StartedPart<void> {
  const { app } = http;
  const { auth, embedding } = sources;
  app.use("/metrics", metricsAccess(auth));
  app.get("/metrics", () => http.observability.metricsResponse());
  app.get("/health", healthHandler({ admission: http.admissionStats, ...sources }));
  app.get("/whoami", whoAmIHandler(auth));
  app.all("/v1/*", async (c) => {
    const p = auth.enabled ? await auth.authenticate(c.req.raw.headers).catch(() => undefined) : ANONYMOUS;
    return p ? callerContext.run(p, () => embedding.openai.fetch(c.req.raw)) : embedding.openai.fetch(c.req.raw);
  });
  const link = createDcsmLink(
    createRouterTransport(http.routes, {
      router: { interceptors: http.interceptors, readMaxBytes: config.maxMessageBytes },
    }),
    (path, init) => embedding.openai.fetch(new Request(`http://dcsm.internal${path}`, init)),
  );
  const mcp = mountMcpEndpoint(app, {
    link,
    authenticate: (headers) => auth.authenticate(headers),
    authEnabled: auth.enabled,
    maxBodyBytes: config.maxMessageBytes,
  });
  return { value: undefined, drain: () => mcp.close() };
}
