/**
 * The Agent SDK (docs/architecture.md): typed GLM, SWM and KPS clients with retries and timeouts,
 * the agent's local memory (LPA; cache semantics in docs/consistency.md), SWM
 * publishing and events, distributed locks and counters. Browser-safe: no `node:` or `bun:`
 * imports (gRPC over HTTP/2 is in the server-only entry `sdk/server.ts`).
 * @module
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import { type Client, Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import {
  type AgentSDKOptions,
  type BatchOutcome,
  type CallOptions,
  createFetchTransport,
} from "./agent-sdk-options.ts";
import { type HeldLock, holdLock, LOCK_DEFAULTS, type LockOptions } from "./distributed-lock.ts";
import {
  GlobalLongTermMemoryService,
  MetadataUpdateMode,
  type RetrieveKEMsResponse,
} from "./gen/dcsm/v1/glm_service_pb.ts";
import type { KEM } from "./gen/dcsm/v1/kem_pb.ts";
import { KnowledgeProcessorService, type ProcessRawDataRequestSchema } from "./gen/dcsm/v1/kps_service_pb.ts";
import {
  type AcquireLockResponse,
  type GetLockInfoResponse,
  type ReleaseStatus,
  SharedWorkingMemoryService,
  type SWMMemoryEvent,
} from "./gen/dcsm/v1/swm_service_pb.ts";
import { type IngestOutcome, ingestDocumentBatches, publishKemsConcurrently, storeKemBatches } from "./kem-batches.ts";
import {
  type KemInput,
  type KemPatch,
  type KemQueryInput,
  kemInit,
  kemQueryInit,
  type SearchModeName,
} from "./kem-input.ts";
import { LocalAgentMemory, type LocalQuery } from "./local-agent-memory.ts";
import { withRetries } from "./retry.ts";
import {
  type HandleSwmEventsOptions,
  type SwmEventFilter,
  type SwmEventSubscription,
  subscribeSwmEvents,
} from "./swm-events.ts";
import type { AgentProtocol } from "./transport.ts";

export {
  type AgentSDKOptions,
  type BatchOutcome,
  type CallOptions,
  createFetchTransport,
} from "./agent-sdk-options.ts";
export type { AgentProtocol };

/**
 * The Agent SDK. Make one per agent with {@link createAgentSDK}. All methods reject with
 * `ConnectError` (`Code` from the server, `DeadlineExceeded` on timeout, `Canceled` on abort).
 */
export class AgentSDK {
  /** Global long-term memory client. */
  readonly glm: Client<typeof GlobalLongTermMemoryService>;
  /** Shared working memory client. */
  readonly swm: Client<typeof SharedWorkingMemoryService>;
  /** Knowledge processing client. */
  readonly kps: Client<typeof KnowledgeProcessorService>;
  /** The agent's local memory (LPA; docs/consistency.md). */
  readonly lpa: LocalAgentMemory;
  /** This agent's id. */
  readonly agentId: string;
  private readonly timeoutMs: number;

  /** Use {@link createAgentSDK}. */
  constructor(transport: Transport, options: AgentSDKOptions) {
    if (!options.agentId || options.agentId.length > 256) throw new TypeError("agentId must be 1 to 256 characters");
    const t = withRetries(transport, options.retry, options.onRetry);
    this.glm = createClient(GlobalLongTermMemoryService, t);
    this.swm = createClient(SharedWorkingMemoryService, t);
    this.kps = createClient(KnowledgeProcessorService, t);
    this.lpa = new LocalAgentMemory(options.lpa);
    this.agentId = options.agentId;
    this.timeoutMs = options.defaultTimeoutMs ?? 30_000;
  }

  private call(o: CallOptions = {}, atLeastMs = 0) {
    if (o.timeoutMs !== undefined) return { signal: o.signal, timeoutMs: o.timeoutMs > 0 ? o.timeoutMs : undefined };
    // The default timeout stretches to cover a server-side wait (lock acquisition).
    return { signal: o.signal, timeoutMs: this.timeoutMs > 0 ? Math.max(this.timeoutMs, atLeastMs) : undefined };
  }

  /** KEMs in the local memory matching `q`, newest first; indexed metadata keys use the indexes. No network. */
  queryLocalMemory(q: LocalQuery = {}): KEM[] {
    return this.lpa.query(q);
  }

  /**
   * One KEM by id: from the local memory unless `forceRemote`, else from
   * SWM, else from GLM; a remote hit is written back to the local memory.
   * @returns the KEM, or undefined when no tier has it. SWM being `Unavailable` falls through to GLM.
   */
  async getKem(id: string, options: CallOptions & { forceRemote?: boolean } = {}): Promise<KEM | undefined> {
    if (!options.forceRemote) {
      const local = this.lpa.get(id);
      if (local) return local;
    }
    let kem: KEM | undefined;
    try {
      kem = (await this.swm.querySWM({ query: { ids: [id] }, pageSize: 1 }, this.call(options))).kems[0];
    } catch (err) {
      if (ConnectError.from(err).code !== Code.Unavailable) throw err;
    }
    kem ??= (await this.glm.retrieveKEMs({ query: { ids: [id] }, pageSize: 1 }, this.call(options))).kems[0];
    if (kem) this.lpa.put(kem);
    else this.lpa.delete(id);
    return kem;
  }

  /**
   * Stores KEMs in GLM in batches of `batchSize`, each item with an
   * idempotency key so retries never store twice; stored KEMs (server ids and timestamps, the
   * embeddings sent) go to the local memory. Per-item failures are returned, not thrown.
   */
  async storeKems(
    kems: readonly KemInput[],
    options: CallOptions & { batchSize?: number } = {},
  ): Promise<BatchOutcome> {
    return storeKemBatches(this.glm, this.lpa, kems, options.batchSize ?? 500, this.call(options));
  }

  /**
   * Sends raw documents to KPS (chunked, embedded and stored in GLM) with `BatchProcessRawData`,
   * `batchSize` documents per call (the server's default limit is 256 documents and 16 MiB of raw
   * bytes per call). Per-document failures are returned, not thrown; a whole call refused (e.g.
   * `ResourceExhausted` over the server's limits) rejects.
   * @returns each processed document's `ProcessRawData` answer with its index, and the failures.
   */
  async ingestDocuments(
    documents: readonly MessageInitShape<typeof ProcessRawDataRequestSchema>[],
    options: CallOptions & { batchSize?: number } = {},
  ): Promise<IngestOutcome> {
    return ingestDocumentBatches(this.kps, documents, Math.max(1, options.batchSize ?? 64), this.call(options));
  }

  /**
   * Partially updates a KEM in GLM: only the fields given in `patch`;
   * metadata is merged key by key unless `patch.replaceMetadata`. The result goes to the local memory.
   * @throws ConnectError `NotFound` for an unknown id, `InvalidArgument` for bad values.
   */
  async updateKem(id: string, patch: KemPatch, options: CallOptions = {}): Promise<KEM> {
    const { replaceMetadata, ...fields } = patch;
    const init = kemInit(fields);
    const paths = (["content", "contentType", "metadata", "embeddings"] as const)
      .filter((f) => fields[f] !== undefined)
      .map((f) => (f === "contentType" ? "content_type" : f));
    if (paths.length === 0) throw new ConnectError("updateKem: the patch sets no field", Code.InvalidArgument);
    const res = await this.glm.updateKEM(
      {
        kemId: id,
        kemDataUpdate: init,
        updateMask: { paths },
        metadataMode: replaceMetadata ? MetadataUpdateMode.REPLACE : MetadataUpdateMode.MERGE,
      },
      this.call(options),
    );
    if (res.kem) this.lpa.put(res.kem);
    return res.kem!;
  }

  /**
   * Deletes a KEM from GLM and drops it from the local memory.
   * @throws ConnectError `NotFound` when GLM has no such KEM (it is dropped locally anyway).
   */
  async deleteKem(id: string, options: CallOptions = {}): Promise<void> {
    try {
      await this.glm.deleteKEM({ kemId: id }, this.call(options));
    } finally {
      this.lpa.delete(id);
    }
  }

  /**
   * Search over GLM: hybrid by default (the server embeds the text and also matches it lexically,
   * the two rankings fused), or one `mode` ("vector", "lexical"); docs/search.md.
   * @param options.pageToken - continue a previous search (its response's `nextPageToken`).
   * @returns one page of KEMs with their scores (best first; cosine, BM25 or fused by mode).
   * @throws ConnectError `InvalidArgument` (blank or oversized text, bad filter or token),
   *   `FailedPrecondition` ("vector"/"hybrid" on a server without a model).
   */
  async searchGlm(
    text: string,
    options: CallOptions & { pageSize?: number; pageToken?: string; mode?: SearchModeName } & Pick<
        KemQueryInput,
        "metadataFilters" | "createdAfter" | "createdBefore" | "updatedAfter" | "updatedBefore"
      > = {},
  ): Promise<RetrieveKEMsResponse> {
    const { pageSize, pageToken, mode, metadataFilters, createdAfter, createdBefore, updatedAfter, updatedBefore } =
      options;
    const query = kemQueryInit({
      textQuery: text,
      searchMode: mode,
      metadataFilters,
      createdAfter,
      createdBefore,
      updatedAfter,
      updatedBefore,
    });
    return this.glm.retrieveKEMs({ query, pageSize: pageSize ?? 10, pageToken: pageToken ?? "" }, this.call(options));
  }

  /**
   * Publishes KEMs to SWM, up to `concurrency` calls at
   * once; id-less KEMs get a UUIDv7 here so retries republish the same KEM. Published KEMs (with
   * SWM timestamps) go to the local memory. Per-item failures are returned, not thrown.
   * @param options.persistToGlm - also queue each KEM for write-behind to GLM. @default false
   */
  async publishKemsToSwmBatch(
    kems: readonly KemInput[],
    options: CallOptions & { persistToGlm?: boolean; concurrency?: number } = {},
  ): Promise<BatchOutcome> {
    return publishKemsConcurrently(
      this.swm,
      this.lpa,
      this.agentId,
      kems,
      { persistToGlm: options.persistToGlm ?? false, concurrency: Math.max(1, options.concurrency ?? 8) },
      this.call(options),
    );
  }

  /**
   * Loads the SWM KEMs matching `query` into the local memory.
   * @throws ConnectError `InvalidArgument` for a bad query (e.g. `textQuery`, which SWM does not support).
   * @param options.maxKems - stop after this many. @default 1000
   * @returns the loaded KEMs, newest `updated_at` first.
   */
  async loadKemsToLpaFromSwm(query: KemQueryInput, options: CallOptions & { maxKems?: number } = {}): Promise<KEM[]> {
    const max = options.maxKems ?? 1000;
    const q = kemQueryInit(query);
    const out: KEM[] = [];
    let pageToken = "";
    do {
      const page = await this.swm.querySWM(
        { query: q, pageSize: Math.min(1000, max - out.length), pageToken },
        this.call(options),
      );
      for (const k of page.kems) {
        this.lpa.put(k);
        out.push(k);
      }
      pageToken = page.nextPageToken;
    } while (pageToken && out.length < max);
    return out;
  }

  /**
   * Subscribes to SWM events and, with `autoUpdateLpa` (default),
   * keeps the local memory coherent; reconnects with the last sequence after network drops.
   * @returns the subscription (close it when done).
   */
  handleSwmEvents(
    filter: SwmEventFilter,
    handler: (ev: SWMMemoryEvent) => void | Promise<void>,
    options: HandleSwmEventsOptions = {},
  ): SwmEventSubscription {
    return subscribeSwmEvents(this.swm, this.lpa, this.agentId, filter, handler, options);
  }

  /** AcquireLock as this agent; `waitMs` (default 0) is how long the server waits. Returns the raw response (check `status`). */
  acquireDistributedLock(
    resourceId: string,
    options: LockOptions & { timeoutMs?: number } = {},
  ): Promise<AcquireLockResponse> {
    const wait = options.waitMs ?? 0;
    return this.swm.acquireLock(
      { resourceId, agentId: this.agentId, timeoutMs: wait, leaseDurationMs: options.leaseMs ?? LOCK_DEFAULTS.leaseMs },
      this.call(options, wait + 5000),
    );
  }

  /** ReleaseLock as this agent. @returns RELEASED, NOT_HELD (expired or never held) or INVALID_LOCK_ID. */
  async releaseDistributedLock(resourceId: string, lockId: string, options: CallOptions = {}): Promise<ReleaseStatus> {
    return (await this.swm.releaseLock({ resourceId, agentId: this.agentId, lockId }, this.call(options))).status;
  }

  /** GetLockInfo: whether `resourceId` is locked, by whom, until when, with which fencing token. */
  getDistributedLockInfo(resourceId: string, options: CallOptions = {}): Promise<GetLockInfoResponse> {
    return this.swm.getLockInfo({ resourceId }, this.call(options));
  }

  /**
   * Acquires a lock for a scope: `await using lock = await sdk.distributedLock("name", { leaseMs })`
   * releases it when the scope ends; `lock.fencingToken` guards writes.
   * @throws ConnectError `Aborted` when still held by another agent after `waitMs` (default 10 s).
   */
  distributedLock(resourceId: string, options: LockOptions = {}): Promise<HeldLock> {
    const wait = options.waitMs ?? LOCK_DEFAULTS.waitMs;
    return holdLock(
      this.swm,
      this.agentId,
      resourceId,
      { ...options, waitMs: wait },
      this.call({ signal: options.signal }, wait + 5000).timeoutMs,
    );
  }

  /** Atomically adds `by` (default 1; may be negative) to a counter. Not retried (not idempotent). @returns the new value. */
  async incrementDistributedCounter(
    counterId: string,
    by: number | bigint = 1,
    options: CallOptions = {},
  ): Promise<bigint> {
    return (await this.swm.incrementCounter({ counterId, incrementBy: BigInt(by) }, this.call(options))).currentValue;
  }

  /** A counter's value (0 when never incremented). */
  async getDistributedCounter(counterId: string, options: CallOptions = {}): Promise<bigint> {
    return (await this.swm.getCounter({ counterId }, this.call(options))).currentValue;
  }
}

/**
 * Creates an Agent SDK on `transport`, or on a fetch transport for `baseUrl` and
 * `protocol` (`connect` or `grpc-web`).
 * @throws TypeError for a missing or empty `agentId`, no `baseUrl`/`transport`, or `grpc` here;
 *   RangeError for a bad `lpa.maxEntries` or `retry.maxRetries`.
 */
export function createAgentSDK(options: AgentSDKOptions): AgentSDK {
  return new AgentSDK(options.transport ?? createFetchTransport(options), options);
}
