/**
 * Starts a DCSM server: builds the backends from configuration (SQLite store, exact vector index,
 * embedding model), the GLM, KPS and SWM services, and both listeners (HTTP for Connect and
 * gRPC-Web on `Bun.serve`, h2c for gRPC on `node:http2`). One process, embedded defaults
 * (DESIGN.md "The shape").
 * @module
 */
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import type { ConnectRouter } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { createRouterTransport } from "@connectrpc/connect";
import { GlobalLongTermMemoryService } from "../sdk/gen/dcsm/v1/glm_service_pb.ts";
import { KnowledgeProcessorService } from "../sdk/gen/dcsm/v1/kps_service_pb.ts";
import { SharedWorkingMemoryService } from "../sdk/gen/dcsm/v1/swm_service_pb.ts";
import { Health } from "../sdk/gen/grpc/health/v1/health_pb.ts";
import { KemRepository } from "../services/glm/kem-repository.ts";
import { createGlmService } from "../services/glm/service.ts";
import { createSqliteKemStore } from "../services/glm/store/sqlite-store.ts";
import { createExactVectorIndex } from "../services/glm/vector/exact-index.ts";
import { createHnswVectorIndex } from "../services/glm/vector/hnsw-index.ts";
import { createQdrantVectorIndex, type QdrantVectorIndex } from "../services/glm/vector/qdrant-index.ts";
import { createTransformersEmbedder } from "../services/kps/embedder/transformers-embedder.ts";
import { createGlmSink } from "../services/kps/glm-sink.ts";
import type { Embedder } from "../services/kps/ports.ts";
import { createKpsService } from "../services/kps/service.ts";
import { limitsOf, qdrantUrlOf, type DcsmConfig } from "./config.ts";
import consolePage from "./console/index.html";
import { createConnectApp } from "./host/connect-app.ts";
import { createEmbeddingStack } from "./host/embedding-stack.ts";
import { startGrpcListener } from "./host/grpc-listener.ts";
import { createHealthRegistry, createHealthService, ServingStatus } from "./host/health.ts";
import { createLogger, type Logger } from "./logger.ts";
import { buildSwm, type SwmRuntime } from "./swm.ts";

/** A running DCSM server. */
export interface DcsmServer {
  /** Base URL of the Connect / gRPC-Web listener, e.g. "http://127.0.0.1:8080". */
  httpUrl: string;
  /** Base URL of the gRPC (h2c) listener, e.g. "http://127.0.0.1:50051". */
  grpcUrl: string;
  /** The embedding model in use. */
  embedder: Embedder;
  /** SWM (backend and write-behind stats, for tests and metrics). */
  swm: SwmRuntime;
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

  const embedder = options.embedder ?? (await loadEmbedder(config));
  if (embedder.dimension !== config.dimension) {
    throw new Error(`model ${embedder.modelId} makes ${embedder.dimension}-dim embeddings but DCSM_VECTOR_DIM is ${config.dimension}`);
  }

  // Issue 6: GLM, KPS and /v1/embeddings share one cache and one micro-batching queue.
  const embedding = createEmbeddingStack(embedder, config, log);

  const store = createSqliteKemStore({ path: join(dataDir, "glm.sqlite") });
  const qdrantUrl = qdrantUrlOf(config);
  const index = qdrantUrl
    ? createQdrantVectorIndex({
        url: qdrantUrl,
        apiKey: config.qdrantApiKey || undefined,
        collection: config.qdrantCollection,
        dimension: config.dimension,
        indexedKeys: config.glmIndexedKeys,
      })
    : config.vectorIndex === "exact"
      ? createExactVectorIndex({ dimension: config.dimension, initialCapacity: Math.max(1024, store.count()) })
      : createHnswVectorIndex({ dimension: config.dimension, snapshotDir: join(dataDir, "vector-index"), log });
  // Seed 002 6: GLM does not start when Qdrant is unreachable at start-up.
  if ("ensureCollection" in index) await (index as QdrantVectorIndex).ensureCollection();
  const repository = new KemRepository({ store, index, log });
  const t0 = performance.now();
  await repository.open();
  log.info({ vectors: index.stats().size, ms: Math.round(performance.now() - t0) }, "vector index loaded from SQLite");

  const glm = createGlmService({ repository, embedder: embedding.embedder, limits });
  const glmTransport = config.glmUrl
    ? createConnectTransport({ baseUrl: config.glmUrl, httpVersion: "1.1", useBinaryFormat: true })
    : createRouterTransport(({ service }) => service(GlobalLongTermMemoryService, glm));
  const kps = createKpsService({ embedder: embedding.embedder, sink: createGlmSink({ transport: glmTransport }), limits });
  const swmRuntime = await buildSwm(config, { glm: glmTransport, limits, log, dataDir });
  const swm = swmRuntime.service;

  const serviceNames = [GlobalLongTermMemoryService.typeName, KnowledgeProcessorService.typeName, SharedWorkingMemoryService.typeName];
  const health = createHealthRegistry(serviceNames);
  const healthImpl = createHealthService(health);
  const routes = (router: ConnectRouter) => {
    router.service(GlobalLongTermMemoryService, glm);
    router.service(KnowledgeProcessorService, kps);
    router.service(SharedWorkingMemoryService, swm);
    router.service(Health, healthImpl);
  };

  const app = createConnectApp({ routes, readMaxBytes: config.maxMessageBytes });
  app.get("/health", (c) => {
    const s = health.get("");
    return c.json({ status: s === ServingStatus.SERVING ? "ok" : "starting", model: embedder.modelId, dimension: embedder.dimension, kems: store.count(), embedding: embedding.stats(), rssBytes: process.memoryUsage.rss() }, s === ServingStatus.SERVING ? 200 : 503);
  });
  app.all("/v1/*", (c) => embedding.openai.fetch(c.req.raw));
  const http = Bun.serve({
    hostname: config.host,
    port: config.httpPort,
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
  let grpc;
  try {
    grpc = await startGrpcListener(routes, config.host, config.grpcPort, config.maxMessageBytes);
  } catch (err) {
    await http.stop(true);
    await swmRuntime.close();
    store.close();
    throw err;
  }

  await embedding.warmUp(); // /health says "starting" (503) until the model is warm
  health.set("", ServingStatus.SERVING);
  for (const s of serviceNames) health.set(s, ServingStatus.SERVING);
  const host = config.host.includes(":") ? `[${config.host}]` : config.host;
  const httpUrl = `http://${host}:${http.port}`;
  const grpcUrl = `http://${host}:${grpc.port}`;
  log.info({ httpUrl, grpcUrl, dataDir, model: embedder.modelId, kems: store.count() }, "DCSM serving GLM, KPS and SWM");

  let closed = false;
  return {
    httpUrl,
    grpcUrl,
    embedder,
    swm: swmRuntime,
    async close() {
      if (closed) return;
      closed = true;
      health.set("", ServingStatus.NOT_SERVING);
      for (const s of serviceNames) health.set(s, ServingStatus.NOT_SERVING);
      // Let in-flight calls finish for up to 2 s, then cut what remains (e.g. open event streams).
      const graceful = http.stop(false);
      const cut = setTimeout(() => void http.stop(true), 2000);
      await Promise.all([graceful, grpc.close(2000)]);
      clearTimeout(cut);
      await swmRuntime.close();
      embedding.close();
      await index.close();
      store.close();
    },
  };
}
