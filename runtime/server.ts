/**
 * Starts a DCSM server: builds the backends from configuration (SQLite or PostgreSQL store, vector index,
 * embedding model), the GLM, KPS and SWM services, and both listeners (HTTP for Connect and
 * gRPC-Web on `Bun.serve`, h2c for gRPC on `node:http2`). One process, embedded defaults
 * (DESIGN.md "The shape").
 * @module
 */
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import type { ConnectRouter, Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { createClient, createRouterTransport } from "@connectrpc/connect";
import { GlobalLongTermMemoryService } from "../sdk/gen/dcsm/v1/glm_service_pb.ts";
import { KnowledgeProcessorService } from "../sdk/gen/dcsm/v1/kps_service_pb.ts";
import { SharedWorkingMemoryService } from "../sdk/gen/dcsm/v1/swm_service_pb.ts";
import { Health } from "../sdk/gen/grpc/health/v1/health_pb.ts";
import { KemRepository } from "../services/glm/kem-repository.ts";
import { createGlmService } from "../services/glm/service.ts";
import { queryEmbedderOf } from "../services/kps/embedder/model-profile.ts";
import { createPostgresKemStore } from "../services/glm/store/postgres-store.ts";
import { createSqliteKemStore } from "../services/glm/store/sqlite-store.ts";
import { createExactVectorIndex } from "../services/glm/vector/exact-index.ts";
import { createHnswVectorIndex } from "../services/glm/vector/hnsw-index.ts";
import { createQdrantVectorIndex, type QdrantVectorIndex } from "../services/glm/vector/qdrant-index.ts";
import { createTransformersEmbedder } from "../services/kps/embedder/transformers-embedder.ts";
import type { Embedder } from "../services/kps/ports.ts";
import { createKpsService } from "../services/kps/service.ts";
import { guardGlm } from "../services/access/glm-guard.ts";
import { guardKps } from "../services/access/kps-guard.ts";
import { ownersAcross, type NamespaceLookup } from "../services/access/scoping.ts";
import { guardSwm } from "../services/access/swm-guard.ts";
import { can, NAMESPACE_KEY } from "../services/shared/access.ts";
import { bearerAuth } from "../sdk/auth.ts";
import { ANONYMOUS, createAuthenticator } from "./auth/authenticator.ts";
import { callerContext } from "./auth/caller-context.ts";
import { createAuthInterceptor } from "./auth/interceptor.ts";
import { whoAmIHandler } from "./auth/whoami.ts";
import { hybridOf, limitsOf, qdrantUrlOf, type DcsmConfig } from "./config.ts";
import consolePage from "./console/index.html";
import { createAdmission } from "./host/admission.ts";
import { createConnectApp } from "./host/connect-app.ts";
import { createEmbeddingStack } from "./host/embedding-stack.ts";
import { startGrpcListener } from "./host/grpc-listener.ts";
import { createInnerSocketPath, startTlsListener } from "./host/tls-listener.ts";
import { createHealthRegistry, createHealthService, ServingStatus } from "./host/health.ts";
import { buildKpsSink } from "./kps-sink.ts";
import { createLogger, type Logger } from "./logger.ts";
import { createDcsmLink } from "./mcp/dcsm-link.ts";
import { mountMcpEndpoint } from "./mcp/http-endpoint.ts";
import { createObservability } from "./observability/observability.ts";
import { buildSwm, glmNamespaceLookup, type SwmRuntime } from "./swm.ts";
import { readTlsMaterial } from "./tls-config.ts";

/** A running DCSM server. */
export interface DcsmServer {
  /** Base URL of the Connect / gRPC-Web listener, e.g. "http://127.0.0.1:8080" ("https://…" with TLS). */
  httpUrl: string;
  /** Base URL of the gRPC (h2c) listener, e.g. "http://127.0.0.1:50051"; with TLS the same as `httpUrl` (one port). */
  grpcUrl: string;
  /** The embedding model in use. */
  embedder: Embedder;
  /** SWM (backend and write-behind stats, for tests and metrics). */
  swm: SwmRuntime;
  /**
   * Resolves when GLM's vector index has no background work left (every stored vector is in the
   * HNSW graph; at once for the exact index and Qdrant). For tests and benches that must not
   * charge one run's graph building to the next.
   */
  vectorIndexIdle(): Promise<void>;
  /** Stops both listeners (letting open calls finish briefly) and closes the store. */
  close(): Promise<void>;
}

/** Options of {@link startDcsmServer} beyond the configuration. */
export interface StartOptions {
  /** Use this already loaded model instead of loading one (tests share one model). */
  embedder?: Embedder;
  /** Logger. @default a pino logger at `config.logLevel` */
  logger?: Logger;
}

/** Loads the embedding model named by the configuration. @throws PreconditionError when missing. */
export function loadEmbedder(config: DcsmConfig): Promise<Embedder> {
  return createTransformersEmbedder({
    modelId: config.model,
    modelDir: config.modelDir,
    allowDownload: !config.modelOffline,
    cacheDir: join(resolve(config.dataDir), "model-cache"),
    dtype: config.modelDtype,
    batchSize: config.embedBatchSize,
    cpuArena: config.modelArena,
  });
}

/**
 * Starts GLM, KPS and SWM in this process on both listeners.
 * @param config - validated configuration.
 * @param options - optional preloaded model and logger.
 * @throws PreconditionError when the model is missing or its dimension differs from
 *   `config.dimension`; listen errors (EADDRINUSE) when a port is taken.
 */
export async function startDcsmServer(config: DcsmConfig, options: StartOptions = {}): Promise<DcsmServer> {
  const log = options.logger ?? createLogger(config.logLevel);
  const limits = limitsOf(config);
  const dataDir = resolve(config.dataDir);
  mkdirSync(dataDir, { recursive: true });

  // Issue 8: authentication is off only on a loopback interface, unless explicitly --insecure.
  const auth = await createAuthenticator(config);
  if (!auth.enabled && !isLoopback(config.host) && !config.insecure) {
    throw new Error(`refusing to serve on ${config.host} without authentication: configure DCSM_API_KEYS_FILE, DCSM_API_KEYS or DCSM_JWT_*, or pass --insecure (DCSM_INSECURE=1)`);
  }

  const embedder = options.embedder ?? (await loadEmbedder(config));
  if (embedder.dimension !== config.dimension) {
    throw new Error(`model ${embedder.modelId} makes ${embedder.dimension}-dim embeddings but DCSM_VECTOR_DIM is ${config.dimension}`);
  }

  // Issue 6: GLM, KPS and /v1/embeddings share one cache and one micro-batching queue.
  const embedding = createEmbeddingStack(embedder, config, log, (req) => auth.authenticate(req.headers).then(() => true, () => false));

  // GLM's store: the embedded SQLite file, or PostgreSQL shared by many nodes (docs/postgres.md).
  const pgStore = config.postgresUrl
    ? await createPostgresKemStore({ url: config.postgresUrl, maxConnections: config.postgresPool, idempotencyTtlMs: config.idempotencyTtlMs })
    : undefined;
  const store =
    pgStore ??
    createSqliteKemStore({
      path: join(dataDir, "glm.sqlite"),
      idempotencyTtlMs: config.idempotencyTtlMs,
      onMigrationProgress: (p) => log.info(p, `migrating the GLM store from schema ${p.from} to ${p.to}: ${p.done} of ${p.total} KEMs indexed`),
    });
  const qdrantUrl = qdrantUrlOf(config);
  const index = qdrantUrl
    ? createQdrantVectorIndex({
        url: qdrantUrl,
        apiKey: config.qdrantApiKey || undefined,
        collection: config.qdrantCollection,
        dimension: config.dimension,
        indexedKeys: [...new Set([...config.glmIndexedKeys, NAMESPACE_KEY])], // scoped queries filter on namespace (issue 8)
      })
    : config.vectorIndex === "exact"
      ? createExactVectorIndex({ dimension: config.dimension, initialCapacity: Math.max(1024, (await store.count())) })
      : createHnswVectorIndex({
          dimension: config.dimension,
          // On PostgreSQL the snapshot is keyed by the store's identity: one restored against another database would be wrong.
          snapshotDir: pgStore ? join(dataDir, "vector-index", `postgres-${pgStore.storeId}`) : join(dataDir, "vector-index"),
          log,
        });
  // Seed 002 6: GLM does not start when Qdrant is unreachable at start-up.
  if ("ensureCollection" in index) await (index as QdrantVectorIndex).ensureCollection();
  const repository = new KemRepository({ store, index, log });
  const t0 = performance.now();
  await repository.open();
  log.info({ vectors: index.stats().size, ms: Math.round(performance.now() - t0), store: pgStore ? "postgres" : "sqlite" }, "vector index loaded from the store");
  // With PostgreSQL, other nodes' commits wake this node's index (LISTEN/NOTIFY) instead of waiting for a search.
  const stopFollowing = pgStore ? await pgStore.onChange(() => repository.requestCatchUp()) : undefined;

  const glm = createGlmService({ repository, embedder: queryEmbedderOf(embedding.embedder), limits, hybrid: hybridOf(config) });
  const glmTransport = config.glmUrl
    ? createConnectTransport({ baseUrl: config.glmUrl, httpVersion: "1.1", useBinaryFormat: true, interceptors: config.glmApiKey ? [bearerAuth(config.glmApiKey)] : [] })
    : createRouterTransport(({ service }) => service(GlobalLongTermMemoryService, glm));
  // Issue 8: with a remote GLM, KPS queues chunks durably (<dataDir>/kps-outbox.sqlite) while GLM is down.
  const kpsSink = buildKpsSink(config, { glm: glmTransport, maxBatchSize: limits.maxBatchSize, log, dataDir });
  const kps = createKpsService({ embedder: embedding.embedder, sink: kpsSink.sink, limits });
  // GLM in this process: write-behind stores through its repository (no serialising transport).
  const swmRuntime = await buildSwm(config, { glm: glmTransport, repository: config.glmUrl ? undefined : repository, limits, log, dataDir });
  const swm = swmRuntime.service;

  const serviceNames = [GlobalLongTermMemoryService.typeName, KnowledgeProcessorService.typeName, SharedWorkingMemoryService.typeName];
  const health = createHealthRegistry(serviceNames);
  const healthImpl = createHealthService(health, { maxWatchers: config.healthMaxWatchers });
  // Issue 8: each service behind its namespace guard (callers with `*` scopes pass straight through).
  // One ownership rule for both stores: an id owned in GLM or in SWM is written only by a principal
  // with the right on that namespace (StoreKEM, BatchStoreKEMs, PublishKEMToSWM; LoadKEMsFromGLM
  // and write-behind re-check it in the SWM service and worker).
  const glmNamespaces: NamespaceLookup = async (ids) => new Map((await store.getMany(ids)).map((r) => [r.id, namespaceOf(r.metadata)]));
  // The GLM that SWM loads from and writes behind to: this process's, or the remote DCSM_GLM_URL.
  const swmGlmNamespaces: NamespaceLookup = config.glmUrl ? glmNamespaceLookup(glmTransport, limits.maxPageSize) : glmNamespaces;
  const swmNamespaces: NamespaceLookup = async (ids) => new Map((await swmRuntime.backend.workingSet.get(ids)).map((r) => [r.id, namespaceOf(r.metadata)]));
  const routes = (router: ConnectRouter) => {
    router.service(GlobalLongTermMemoryService, guardGlm(glm, glmNamespaces, ownersAcross(glmNamespaces, swmNamespaces)));
    router.service(KnowledgeProcessorService, guardKps(kps));
    router.service(SharedWorkingMemoryService, guardSwm(swm, ownersAcross(swmGlmNamespaces, swmNamespaces)));
    router.service(Health, healthImpl);
  };

  // Server interceptors shared by both listeners, outermost first (issue 8: metrics, then auth).
  const observability = createObservability({ log, vectorIndex: index, embedding, embedBatchSize: config.embedBatchSize, swm: swmRuntime });
  const interceptors: Interceptor[] = [observability.interceptor];
  interceptors.push(createAuthInterceptor(auth));
  // Authenticate every RPC from its headers and admit it before its body is read (early-auth.ts,
  // admission.ts); the interceptor stays for calls that reach a router some other way.
  const authenticate = (headers: Headers) => auth.authenticate(headers);
  const admission = createAdmission({ maxInFlight: config.maxInFlight, maxInFlightPerPrincipal: config.maxInFlightPerPrincipal, retryAfterSeconds: config.retryAfterSeconds });
  const app = createConnectApp({ routes, readMaxBytes: config.maxMessageBytes, interceptors, authenticate, admission });
  // Issue 8: /metrics needs an admin scope on every namespace when authentication is on.
  app.use("/metrics", async (c, next) => {
    if (!auth.enabled) return next();
    const p = await auth.authenticate(c.req.raw.headers).catch(() => undefined);
    if (!p) return c.text("credentials required: authorization: Bearer <admin API key or JWT>\n", 401, { "www-authenticate": "Bearer" });
    if (!can(p, undefined, "admin")) return c.text(`${p.id} may not read /metrics (needs the admin right on *)\n`, 403);
    return next();
  });
  app.get("/metrics", () => observability.metricsResponse());
  // /health: ready or not for everyone; the details (counts, cache counters, memory) only for an
  // admin on every namespace when authentication is on.
  app.get("/health", async (c) => {
    const s = health.get("");
    const code = s === ServingStatus.SERVING ? 200 : 503;
    const status = s === ServingStatus.SERVING ? "ok" : "starting";
    if (auth.enabled) {
      const p = await auth.authenticate(c.req.raw.headers).catch(() => undefined);
      if (!p || !can(p, undefined, "admin")) return c.json({ status }, code);
    }
    return c.json(
      {
        status,
        model: embedder.modelId,
        dimension: embedder.dimension,
        kems: await store.count(),
        store: pgStore ? "postgres" : "sqlite",
        vectorIndex: index.stats(),
        embedding: embedding.stats(),
        swm: { backend: config.redisUrl ? "redis" : "memory", workingSet: await swmRuntime.backend.workingSet.stats(), writeBehind: await swmRuntime.writeBehindStats() },
        rssBytes: process.memoryUsage.rss(),
      },
      code,
    );
  });
  // /whoami: the caller's principal and scopes (runtime/auth/whoami.ts), for the web console.
  app.get("/whoami", whoAmIHandler(auth));
  app.all("/v1/*", async (c) => {
    const p = auth.enabled ? await auth.authenticate(c.req.raw.headers).catch(() => undefined) : ANONYMOUS;
    return p ? callerContext.run(p, () => embedding.openai.fetch(c.req.raw)) : embedding.openai.fetch(c.req.raw);
  });
  // MCP over Streamable HTTP at /mcp: its tools call the services in process through the same
  // interceptors (metrics, authentication with the caller's forwarded credential, scope guards).
  const mcpLink = createDcsmLink(
    createRouterTransport(routes, { router: { interceptors, readMaxBytes: config.maxMessageBytes } }),
    (path, init) => embedding.openai.fetch(new Request(`http://dcsm.internal${path}`, init)),
  );
  const mcp = mountMcpEndpoint(app, { link: mcpLink, authenticate: (headers) => auth.authenticate(headers), authEnabled: auth.enabled, maxBodyBytes: config.maxMessageBytes });
  // TLS (issue 8): one HTTPS port does ALPN for every protocol; this host then sits behind it on a private Unix socket.
  const tls = readTlsMaterial(config);
  const innerSocketPath = tls ? createInnerSocketPath() : undefined;
  const http = Bun.serve({
    ...(innerSocketPath ? { unix: innerSocketPath } : { hostname: config.host, port: config.httpPort }),
    // The web console (issue 5), bundled by Bun from runtime/console/ (embedded by `bun build --compile`).
    routes: { "/": consolePage },
    development: false,
    fetch: app.fetch,
    maxRequestBodySize: config.maxMessageBytes + 1024,
    error(err) {
      log.error({ err }, "unhandled HTTP error");
      return new Response("internal error", { status: 500 });
    },
  });
  const connectionLimits = { maxConnections: config.grpcMaxConnections, handshakeTimeoutMs: config.grpcHandshakeTimeoutMs, idleTimeoutMs: config.grpcIdleTimeoutMs };
  let grpc;
  try {
    grpc = tls && innerSocketPath
      ? await startTlsListener({ routes, host: config.host, port: config.httpPort, ...tls, readMaxBytes: config.maxMessageBytes, interceptors, innerSocketPath, authenticate, connectionLimits, admission })
      : await startGrpcListener(routes, config.host, config.grpcPort, config.maxMessageBytes, interceptors, authenticate, connectionLimits, admission);
  } catch (err) {
    await mcp.close();
    await http.stop(true);
    await swmRuntime.close();
    await kpsSink.close();
    await stopFollowing?.();
    await store.close();
    throw err;
  }

  await embedding.warmUp(); // /health says "starting" (503) until the model is warm
  health.set("", ServingStatus.SERVING);
  for (const s of serviceNames) health.set(s, ServingStatus.SERVING);
  const host = config.host.includes(":") ? `[${config.host}]` : config.host;
  const httpUrl = tls ? `https://${host}:${grpc.port}` : `http://${host}:${http.port}`;
  const grpcUrl = tls ? httpUrl : `http://${host}:${grpc.port}`; // TLS: one port for all protocols
  log.info({ httpUrl, grpcUrl, dataDir, model: embedder.modelId, kems: (await store.count()) }, "DCSM serving GLM, KPS and SWM");

  let closed = false;
  return {
    httpUrl,
    grpcUrl,
    embedder,
    swm: swmRuntime,
    vectorIndexIdle: async () => {
      if ("drained" in index) await (index as { drained(): Promise<void> }).drained();
    },
    async close() {
      if (closed) return;
      closed = true;
      health.set("", ServingStatus.NOT_SERVING);
      for (const s of serviceNames) health.set(s, ServingStatus.NOT_SERVING);
      // Let in-flight calls finish for up to 2 s, then cut what remains (e.g. open event streams).
      await mcp.close();
      const graceful = http.stop(false);
      const cut = setTimeout(() => void http.stop(true), 2000);
      await Promise.all([graceful, grpc.close(2000)]);
      clearTimeout(cut);
      await swmRuntime.close();
      await kpsSink.close();
      embedding.close();
      await stopFollowing?.();
      await index.close();
      await store.close();
    },
  };
}

/** True for 127.0.0.0/8, ::1 and localhost: where serving without authentication is allowed. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h === "::1" || /^127\.\d+\.\d+\.\d+$/.test(h);
}

/** `metadata.namespace` when it is a string (issue 8). */
function namespaceOf(metadata: { [key: string]: unknown } | undefined): string | undefined {
  const v = metadata?.[NAMESPACE_KEY];
  return typeof v === "string" ? v : undefined;
}
