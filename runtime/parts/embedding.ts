/**
 * The embedder parts: the model (loaded from `DCSM_MODEL`, or one the caller already loaded) and
 * the embedding stack GLM, KPS and `/v1/embeddings` share (one cache, one micro-batching queue;
 * runtime/parts/embedding-stack.ts).
 * @module
 */
import { join, resolve } from "node:path";
import { createTransformersEmbedder } from "../../services/kps/embedder/transformers-embedder.ts";
import type { Embedder } from "../../services/kps/ports.ts";
import type { Authenticator } from "../auth/authenticator.ts";
import type { DcsmConfig } from "../config.ts";
import type { Logger } from "../logger.ts";
import { createEmbeddingStack, type EmbeddingStack } from "./embedding-stack.ts";
import type { StartedPart } from "./part-stack.ts";

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
 * The model: `preloaded` when given (the caller keeps it: stopping leaves it loaded), else loaded
 * from the configuration (stopping releases it).
 * @throws PreconditionError when the model is missing; Error when its dimension differs from
 *   `config.dimension` (`DCSM_VECTOR_DIM`).
 */
export async function startModel(config: DcsmConfig, preloaded?: Embedder): Promise<StartedPart<Embedder>> {
  const model = preloaded ?? (await loadEmbedder(config));
  const stop = preloaded ? undefined : () => model.dispose();
  if (model.dimension !== config.dimension) {
    await stop?.();
    throw new Error(
      `model ${model.modelId} makes ${model.dimension}-dim embeddings but DCSM_VECTOR_DIM is ${config.dimension}`,
    );
  }
  return { value: model, stop };
}

/**
 * The cached, batched embedding stack over `model`, with the server's credential check for
 * `/v1/*`. Stopping stops its background collector.
 */
export function startEmbeddingStack(
  model: Embedder,
  config: DcsmConfig,
  auth: Authenticator,
  log: Logger,
): StartedPart<EmbeddingStack> {
  const embedding = createEmbeddingStack(model, config, log, (req) =>
    auth.authenticate(req.headers).then(
      () => true,
      () => false,
    ),
  );
  return { value: embedding, stop: () => embedding.close() };
}
