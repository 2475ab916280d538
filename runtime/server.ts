/**
 * Starts a DCSM server: GLM, KPS and SWM in one process on both listeners (HTTP for Connect and
 * gRPC-Web on `Bun.serve`, h2c for gRPC on `node:http2`), embedded defaults. A composition root
 * over named parts (runtime/parts/), started in order and torn down in reverse by one path, also
 * when a start fails (docs/server-assembly.md).
 * @module
 */
import { mkdirSync } from "node:fs";
import { resolve } from "node:path";
import type { Embedder } from "../services/kps/ports.ts";
import { type DcsmConfig, limitsOf } from "./config.ts";
import { createLogger, type Logger } from "./logger.ts";
import { startAuth } from "./parts/auth.ts";
import { startEmbeddingStack, startModel } from "./parts/embedding.ts";
import { startHostRoutes } from "./parts/host-routes.ts";
import { startHttpApp } from "./parts/http-app.ts";
import { startHttpHost, startRpcListener, startTlsMaterial } from "./parts/listeners.ts";
import { PartStack } from "./parts/part-stack.ts";
import { startRoutes, startServing } from "./parts/routes.ts";
import { startGlm, startKps, startSwm } from "./parts/services.ts";
import { startStorage } from "./parts/storage.ts";
import { startVectorIndex } from "./parts/vector-index.ts";
import type { SwmRuntime } from "./swm.ts";

export { isLoopback } from "./parts/auth.ts";
export { loadEmbedder } from "./parts/embedding.ts";

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
  /**
   * Stops the server: health turns NOT_SERVING, both listeners stop accepting and let open calls
   * finish for up to 2 s, then every part stops in reverse start order (the store last). Calling
   * it again waits for the same teardown.
   */
  close(): Promise<void>;
}

/** Options of {@link startDcsmServer} beyond the configuration. */
export interface StartOptions {
  /** Use this already loaded model instead of loading one (tests share one model; the server leaves it loaded). */
  embedder?: Embedder;
  /** Logger. @default a pino logger at `config.logLevel` */
  logger?: Logger;
}

/**
 * Starts GLM, KPS and SWM in this process on both listeners. When a part fails to start, the parts
 * started before it are stopped (files closed, ports released) and the error is rethrown.
 * @param config - validated configuration.
 * @param options - optional preloaded model and logger.
 * @throws PreconditionError when the model is missing; Error when its dimension differs from
 *   `config.dimension` or when serving a non-loopback host without authentication; the store's,
 *   Qdrant's or Redis's connection errors; listen errors (EADDRINUSE) when a port is taken.
 */
export async function startDcsmServer(config: DcsmConfig, options: StartOptions = {}): Promise<DcsmServer> {
  const log = options.logger ?? createLogger(config.logLevel);
  const limits = limitsOf(config);
  const dataDir = resolve(config.dataDir);
  const parts = new PartStack(log);
  try {
    await parts.start("data folder", () => ({ value: mkdirSync(dataDir, { recursive: true }) }));
    const auth = await parts.start("authentication", () => startAuth(config));
    const model = await parts.start("embedding model", () => startModel(config, options.embedder));
    const embedding = await parts.start("embedding stack", () => startEmbeddingStack(model, config, auth, log));
    const storage = await parts.start("storage", () => startStorage(config, dataDir, log));
    const index = await parts.start("vector index", () => startVectorIndex(config, dataDir, storage, log));
    const glm = await parts.start("GLM", () => startGlm(config, storage, index, embedding.embedder, limits, log));
    const kps = await parts.start("KPS", () =>
      startKps(config, glm.transport, embedding.embedder, limits, log, dataDir),
    );
    const swm = await parts.start("SWM", () => startSwm(config, glm, limits, log, dataDir));
    const { routes, health } = await parts.start("routes", () =>
      startRoutes(config, { glm, kps: kps.service, swm, maxPageSize: limits.maxPageSize }),
    );
    const http = await parts.start("HTTP app", () =>
      startHttpApp(config, { routes, auth, log, index, embedding, swm }),
    );
    // A full collection stalls the event loop: not while the hosts are refusing work.
    embedding.deferFullCollectionWhile(() => http.admission.busy());
    const swmBackend = config.redisUrl ? "redis" : "memory";
    await parts.start("host routes", () =>
      startHostRoutes(config, http, { auth, health, model, storage, index, embedding, swm, swmBackend }),
    );
    const tls = await parts.start("TLS material", () => startTlsMaterial(config));
    const endpoint = await parts.start("HTTP host", () => startHttpHost(config, http, tls, log));
    const rpc = await parts.start(tls.tls ? "TLS listener" : "gRPC listener", () =>
      startRpcListener(config, http, endpoint),
    );
    // /health says "starting" (503) until the model is warm.
    await parts.start("model warm-up", async () => ({ value: await embedding.warmUp() }));
    await parts.start("serving", () => startServing(health));

    const host = config.host.includes(":") ? `[${config.host}]` : config.host;
    const httpUrl = tls.tls ? `https://${host}:${rpc.port}` : `http://${host}:${endpoint.port}`;
    const grpcUrl = tls.tls ? httpUrl : `http://${host}:${rpc.port}`; // TLS: one port for all protocols
    log.info(
      { httpUrl, grpcUrl, dataDir, model: model.modelId, kems: await storage.store.count() },
      "DCSM serving GLM, KPS and SWM",
    );
    const vectorIndexIdle = async () => {
      if ("drained" in index) await (index as { drained(): Promise<void> }).drained();
    };
    return { httpUrl, grpcUrl, embedder: model, swm, vectorIndexIdle, close: () => parts.stopAll() };
  } catch (err) {
    await parts.stopAll().catch(() => {}); // each teardown error is logged by the stack
    throw err;
  }
}
