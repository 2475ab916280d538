/**
 * The service parts: GLM over the store and index (services/glm/assembly.ts), the transport GLM's
 * clients in this process use (in process, or the remote `DCSM_GLM_URL`), KPS with its sink, and
 * SWM with its backend and write-behind worker (runtime/swm.ts).
 * @module
 */
import type { ServiceImpl, Transport } from "@connectrpc/connect";
import type { KnowledgeProcessorService } from "../../sdk/gen/dcsm/v1/kps_service_pb.ts";
import { createNodeTransport } from "../../sdk/server.ts";
import type { KemLimits } from "../../services/common/limits.ts";
import { assembleGlm, type Glm } from "../../services/glm/assembly.ts";
import type { VectorIndex } from "../../services/glm/ports.ts";
import { queryEmbedderOf } from "../../services/kps/embedder/model-profile.ts";
import type { Embedder } from "../../services/kps/ports.ts";
import { createKpsService } from "../../services/kps/service.ts";
import { type DcsmConfig, hybridOf } from "../config.ts";
import { buildKpsSink, type KpsSinkRuntime } from "../kps-sink.ts";
import type { Logger } from "../logger.ts";
import { buildSwm, type SwmRuntime } from "../swm.ts";
import type { StartedPart } from "./part-stack.ts";
import type { Storage } from "./storage.ts";

/** GLM in this process, and the transport its clients here use. */
export interface GlmPart {
  /** This process's GLM (served even when SWM and KPS use a remote one). */
  glm: Glm;
  /** GLM for KPS and SWM: in process, or `DCSM_GLM_URL` over Connect. */
  transport: Transport;
}

/**
 * Assembles GLM and loads the index from the store; with PostgreSQL, other nodes' commits wake the
 * index (`LISTEN`/`NOTIFY`) instead of the next search. Stopping stops that subscription (the
 * store and index are their own parts).
 * @param embedder - the embedding stack's embedder (text queries).
 */
export async function startGlm(
  config: DcsmConfig,
  storage: Storage,
  index: VectorIndex,
  embedder: Embedder,
  limits: KemLimits,
  log: Logger,
): Promise<StartedPart<GlmPart>> {
  const glm = assembleGlm({
    store: storage.store,
    index,
    embedder: queryEmbedderOf(embedder),
    limits,
    hybrid: hybridOf(config),
    log,
  });
  const t0 = performance.now();
  await glm.open({ follow: storage.postgres });
  log.info(
    { vectors: index.stats().size, ms: Math.round(performance.now() - t0), store: storage.kind },
    "vector index loaded from the store",
  );
  const transport = config.glmUrl
    ? createNodeTransport({ baseUrl: config.glmUrl, protocol: "connect", token: config.glmApiKey || undefined })
    : glm.transport;
  return { value: { glm, transport }, stop: () => glm.stopFollowing() };
}

/** KPS and its sink. */
export interface KpsPart {
  /** The service implementation. */
  service: ServiceImpl<typeof KnowledgeProcessorService>;
  /** The sink (and its outbox with a remote GLM). */
  sink: KpsSinkRuntime;
}

/**
 * Builds KPS; with a remote GLM its chunks queue durably in `<dataDir>/kps-outbox.sqlite` while GLM
 * is down (runtime/kps-sink.ts). Stopping stops the outbox worker and closes the file.
 * @throws when the outbox file cannot be opened.
 */
export function startKps(
  config: DcsmConfig,
  glmTransport: Transport,
  embedder: Embedder,
  limits: KemLimits,
  log: Logger,
  dataDir: string,
): StartedPart<KpsPart> {
  const sink = buildKpsSink(config, { glm: glmTransport, maxBatchSize: limits.maxBatchSize, log, dataDir });
  const service = createKpsService({ embedder, sink: sink.sink, limits });
  return { value: { service, sink }, stop: () => sink.close() };
}

/**
 * Builds SWM; with GLM in this process, write-behind stores through its repository (no
 * serialising transport). Stopping stops the worker (queued writes stay durable) and closes the
 * backend.
 * @throws BackendUnavailableError when `REDIS_URL` is set and Redis cannot be reached.
 */
export async function startSwm(
  config: DcsmConfig,
  glm: GlmPart,
  limits: KemLimits,
  log: Logger,
  dataDir: string,
): Promise<StartedPart<SwmRuntime>> {
  const swm = await buildSwm(config, {
    glm: glm.transport,
    repository: config.glmUrl ? undefined : glm.glm.repository,
    limits,
    log,
    dataDir,
  });
  return { value: swm, stop: () => swm.close() };
}
