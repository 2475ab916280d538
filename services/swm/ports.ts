/**
 * Ports of the SWM service (docs/consistency.md, docs/redis-layout.md): the working set, the
 * event log, locks and counters, and the write-behind queue. Backends implement them
 * (`working-set/redis.ts`, `working-set/memory.ts`, ...); `service.ts` sees only these interfaces.
 * Every method may throw `BackendUnavailableError` (→ `Unavailable`) when the backend is down.
 * @module
 */
import type { JsonObject } from "@bufbuild/protobuf";
import type { KemFilter, KemRecord, KemWrite, UpdatedCursor } from "../common/kem-record.ts";

/** Kind of a working-set change (maps to `EventType` KEM_PUBLISHED ... KEM_DELETED). */
export type SwmEventKind = "published" | "updated" | "evicted" | "deleted";

/** One entry of the SWM event log. */
export interface SwmEvent {
  /**
   * Position in the log: consecutive integers with no gaps. A new log (new process for the memory
   * log, emptied Redis) starts after its creation time in µs, so older resume points are detected.
   */
  sequence: number;
  /** What happened. */
  kind: SwmEventKind;
  /** The KEM concerned. */
  kemId: string;
  /**
   * The KEM as written by this change (published/updated), when still known: the Redis log keeps
   * only headers and fills this from the working set while that version is cached.
   */
  kem?: KemRecord;
  /**
   * Metadata used to match `metadata.<key>=<value>` topics: the full metadata for published/updated;
   * for evicted/deleted only the indexed string values known at removal.
   */
  metadata: JsonObject;
  /** Agent that caused the change ("" when unknown, e.g. eviction). */
  agentId: string;
  /** When the change happened, ms since epoch. */
  timeMs: number;
  /** Human-readable detail ("" when none). */
  details: string;
}

/** Options of {@link WorkingSet.put}. */
export interface PutOptions {
  /** Agent making the change (goes into the event). */
  agentId: string;
  /** Event detail text. @default "" */
  details?: string;
  /**
   * Keep each item's own `createdAtUs`/`updatedAtUs` (KEMs loaded from GLM) instead of stamping
   * SWM times. @default false
   */
  keepTimestamps?: boolean;
  /**
   * Also queue each item, as cached, for write-behind to GLM in the same atomic step, when the
   * working set was built with a write-behind queue it writes to (the Redis working set with the
   * Redis queue); {@link PutResult.queued} tells whether it did. Otherwise the caller queues them.
   * @default false
   */
  persist?: boolean;
}

/** An item of {@link WorkingSet.put}: a write, with timestamps when `keepTimestamps` is set. */
export type PutItem = KemWrite & Partial<Pick<KemRecord, "createdAtUs" | "updatedAtUs">>;

/** An item of {@link WorkingSet.refresh}. */
export interface RefreshItem {
  /** The version to cache (GLM's), timestamps included. */
  record: KemRecord;
  /** The cached version it replaces, µs: nothing is written when the cache holds another. */
  expectedUpdatedAtUs: number;
  /** Only the timestamps differ from the cached version (see {@link WorkingSet.refresh}). @default false */
  timestampsOnly?: boolean;
}

/** Result of one item of {@link WorkingSet.put}. */
export interface PutResult {
  /** The KEM as now cached, with SWM timestamps (created_at kept from the cached version). */
  record: KemRecord;
  /** True when the id was already cached (event KEM_UPDATED), false when new (KEM_PUBLISHED). */
  existed: boolean;
  /** Sequence number of the emitted event. */
  sequence: number;
  /** The KEM was also queued for write-behind ({@link PutOptions.persist}). */
  queued?: boolean;
}

/** A working-set query: filter, page size and keyset cursor (`updated_at` desc, id desc). */
export interface WorkingSetQuery {
  /** Filter (ids, metadata equality, date ranges), all AND-ed. */
  filter: KemFilter;
  /** Maximum number of records to return (the service asks page size + 1). */
  limit: number;
  /** Return only records strictly after this position. */
  after?: UpdatedCursor;
}

/** Counts for tests and metrics. */
export interface WorkingSetStats {
  /** KEMs cached. */
  kems: number;
  /** Stale index entries repaired by readers since start. */
  repairedStaleIds: number;
  /** KEMs evicted (seen by this process) since start. */
  evictions: number;
}

/**
 * The hot working set of KEMs (docs/consistency.md): bounded, LRU-evicted, indexed by configured
 * metadata keys (string values) and by `created_at`/`updated_at`. Every change appends an event
 * to the matching {@link EventLog} atomically with the change.
 */
export interface WorkingSet {
  /** The indexed metadata keys. */
  readonly indexedKeys: readonly string[];
  /**
   * Inserts or replaces KEMs, stamping `updated_at` now and keeping `created_at` of a cached
   * version. Emits KEM_PUBLISHED (new) or KEM_UPDATED (replaced) per item.
   * @throws LimitExceededError (→ `ResourceExhausted`) when the backend has no memory left.
   */
  put(items: PutItem[], options: PutOptions): Promise<PutResult[]>;
  /**
   * Replaces cached KEMs with the records given (timestamps included), each only while its cached
   * version still has `updated_at == expectedUpdatedAtUs`; used to adopt GLM's versions after
   * write-behind (one call per written batch). Emits KEM_UPDATED per item applied. With
   * `timestampsOnly`, the caller vouches that the record's content type, content, metadata and
   * embedding equal those of the version cached at `expectedUpdatedAtUs` (the one it queued), so a
   * backend may write only the timestamps (Redis then sends no payload).
   * @returns per item, in order: true when applied, false when the KEM changed or left the cache meanwhile.
   */
  refresh(items: readonly RefreshItem[], options: PutOptions): Promise<boolean[]>;
  /** Cached records for these ids (unknown ids skipped), in the given order; touches recency. */
  get(ids: string[]): Promise<KemRecord[]>;
  /** Removes a KEM and emits KEM_DELETED. @returns false when it was not cached. */
  delete(id: string, options: PutOptions): Promise<boolean>;
  /**
   * Matching records, `updated_at` desc then id desc (filters applied in the order ids, indexed
   * metadata, other metadata, dates). Index entries that point at evicted KEMs are skipped and
   * repaired.
   */
  query(q: WorkingSetQuery): Promise<KemRecord[]>;
  /** Counts. */
  stats(): Promise<WorkingSetStats>;
  /** Releases resources (connections, timers). */
  close(): Promise<void>;
}

/** A live subscription to the event log. */
export interface EventSubscription {
  /** True when the requested resume point is no longer in history (the subscriber must reload). */
  readonly reloadRequired: boolean;
  /** Stops delivery. Idempotent. */
  close(): void;
}

/**
 * The ordered, bounded log of working-set events, shared by every SWM process on one backend.
 */
export interface EventLog {
  /** Id of this log's lifetime, prefixed to event ids so they stay unique across resets. */
  readonly epoch: string;
  /**
   * Delivers events to `onEvent` in sequence order: first the history after `afterSequence`
   * (when given and still kept), then live events, with no gap and no duplicate. When history
   * no longer covers `afterSequence + 1`, `reloadRequired` is true and only live events follow.
   * `afterSequence` 0 means "from the start of this log" (replayed while nothing was trimmed yet).
   * `onReset` is called when the log itself was lost later (e.g. Redis restarted empty): the
   * subscriber must reload. Callbacks must not throw or block.
   */
  subscribe(
    afterSequence: number | undefined,
    onEvent: (event: SwmEvent) => void,
    onReset?: () => void,
  ): Promise<EventSubscription>;
  /** Sequence number of the newest event (0 when none). */
  lastSequence(): Promise<number>;
  /** Stops background reading. */
  close(): Promise<void>;
}

/** State of a lock grant. Times are ms since epoch. */
export interface LockInfo {
  /** Locked resource. */
  resourceId: string;
  /** Holder. */
  agentId: string;
  /** Id of the grant (needed to release). */
  lockId: string;
  /** When granted, ms since epoch. */
  acquiredAtMs: number;
  /** When the lease ends, ms since epoch. */
  expiresAtMs: number;
  /** Fencing token: strictly greater for every later grant. */
  fencingToken: number;
}

/** Outcome of one {@link LockStore.tryAcquire}. */
export type LockAttempt = { status: "acquired" | "renewed"; lock: LockInfo } | { status: "held"; lock: LockInfo };

/** Outcome of {@link LockStore.release}. */
export type ReleaseOutcome = "released" | "not_held" | "invalid_lock_id";

/** Leased locks with fencing tokens. Expired leases count as free. */
export interface LockStore {
  /**
   * One attempt: grants the lock (new lock id, next fencing token) when free or expired, renews the
   * lease when `agentId` already holds it, otherwise reports the holder.
   * @param leaseMs - lease length in ms (validated by the service).
   */
  tryAcquire(resourceId: string, agentId: string, lockId: string, leaseMs: number): Promise<LockAttempt>;
  /** Releases only when `agentId` and `lockId` match a live grant. */
  release(resourceId: string, agentId: string, lockId: string): Promise<ReleaseOutcome>;
  /** The live grant, or null when free or expired. */
  info(resourceId: string): Promise<LockInfo | null>;
}

/** Atomic 64-bit counters. */
export interface CounterStore {
  /**
   * Adds `by` and returns the new value.
   * @throws InvalidInputError (→ `InvalidArgument`) when the result would leave the int64 range.
   */
  increment(counterId: string, by: bigint): Promise<bigint>;
  /** Current value; 0 when never incremented. */
  get(counterId: string): Promise<bigint>;
}
