/**
 * Assembles GLM from its parts: a {@link KemStore} and a {@link VectorIndex} → the
 * {@link KemRepository} that keeps them consistent → the service implementation. The one place
 * that wiring is written; `runtime/`, tests and benchmarks pick the store and index and call
 * {@link assembleGlm}.
 * @module
 */
import { createRouterTransport, type ServiceImpl, type Transport } from "@connectrpc/connect";
import { GlobalLongTermMemoryService } from "../../sdk/gen/dcsm/v1/glm_service_pb.ts";
import type { KemLimits } from "../common/limits.ts";
import { KemRepository, type KemRepositoryOptions } from "./kem-repository.ts";
import type { KemStore, QueryEmbedder, VectorIndex } from "./ports.ts";
import type { HybridOptions } from "./search/kem-search.ts";
import { createGlmService } from "./service.ts";

/** Parts and options of {@link assembleGlm}. */
export interface GlmAssemblyOptions {
  /** The durable store (SQLite or PostgreSQL). */
  store: KemStore;
  /** The vector index over the store's embeddings; its dimension must equal `limits.dimension`. */
  index: VectorIndex;
  /** Embeds `text_query`; without it text queries fail with `FailedPrecondition`. */
  embedder?: QueryEmbedder;
  /** Limits. @default DEFAULT_KEM_LIMITS (the service's default) */
  limits?: KemLimits;
  /** Hybrid ranking parameters. @default DEFAULT_HYBRID */
  hybrid?: Partial<HybridOptions>;
  /** Logger for index catch-up and undo events. */
  log?: KemRepositoryOptions["log"];
}

/** Options of {@link Glm.open}. */
export interface GlmOpenOptions {
  /**
   * A store that reports other writers' commits (PostgreSQL `LISTEN`/`NOTIFY`, docs/postgres.md):
   * wake the index on each one instead of at the next search. Stopped by {@link Glm.stopFollowing}.
   */
  follow?: { onChange(fn: () => void): Promise<() => Promise<void>> };
}

/** An assembled GLM. */
export interface Glm {
  /** The store it was built on. */
  readonly store: KemStore;
  /** The vector index it was built on. */
  readonly index: VectorIndex;
  /** Store + index coordination (also what SWM's write-behind writes through in one process). */
  readonly repository: KemRepository;
  /** The `dcsm.v1.GlobalLongTermMemoryService` implementation. */
  readonly service: ServiceImpl<typeof GlobalLongTermMemoryService>;
  /** An in-process Connect transport to {@link Glm.service} (no serialisation over a socket). */
  readonly transport: Transport;
  /**
   * Loads the store's embeddings into a local index (an external one is left as it is) and, with
   * `follow`, subscribes to other writers' commits. Call once before serving; resolves to this GLM.
   * @throws whatever the store throws while reading (e.g. `BackendUnavailableError` when busy).
   */
  open(options?: GlmOpenOptions): Promise<Glm>;
  /** Stops following other writers' commits (no-op when not following). */
  stopFollowing(): Promise<void>;
  /** Stops following, then closes the index and the store. */
  close(): Promise<void>;
}

/**
 * Builds GLM over a store and an index. The repository is not opened: call {@link Glm.open} before
 * serving a store that may already hold KEMs.
 * @throws Error when the index dimension differs from `limits.dimension`.
 */
export function assembleGlm(options: GlmAssemblyOptions): Glm {
  const { store, index } = options;
  const repository = new KemRepository({ store, index, log: options.log });
  const service = createGlmService({
    repository,
    embedder: options.embedder,
    limits: options.limits,
    hybrid: options.hybrid,
  });
  const transport = createRouterTransport(({ service: mount }) => mount(GlobalLongTermMemoryService, service));
  let unfollow: (() => Promise<void>) | undefined;
  const glm: Glm = {
    store,
    index,
    repository,
    service,
    transport,
    async open(openOptions = {}) {
      await repository.open();
      if (openOptions.follow) unfollow = await openOptions.follow.onChange(() => repository.requestCatchUp());
      return glm;
    },
    async stopFollowing() {
      const stop = unfollow;
      unfollow = undefined;
      await stop?.();
    },
    async close() {
      await glm.stopFollowing();
      await index.close();
      await store.close();
    },
  };
  return glm;
}
