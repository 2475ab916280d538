/**
 * The SWM service (`dcsm.v1.SharedWorkingMemoryService`; docs/architecture.md, docs/consistency.md):
 * the hot working set where agents meet — publish and query KEMs, load them from GLM, subscribe
 * to lifecycle events, coordinate with leased locks and counters, and persist to GLM write-behind.
 * Works against the ports in `ports.ts`; imports no driver.
 * @module
 */
import { create } from "@bufbuild/protobuf";
import { createClient, type HandlerContext, type ServiceImpl, type Transport } from "@connectrpc/connect";
import { v7 as uuidv7 } from "uuid";
import { abortableSleep } from "../../sdk/abortable-sleep.ts";
import { GlobalLongTermMemoryService } from "../../sdk/gen/dcsm/v1/glm_service_pb.ts";
import {
  AcquireLockResponseSchema,
  GetCounterResponseSchema,
  GetLockInfoResponseSchema,
  IncrementCounterResponseSchema,
  LoadKEMsFromGLMResponseSchema,
  LockStatus,
  PublishKEMToSWMResponseSchema,
  QuerySWMResponseSchema,
  ReleaseLockResponseSchema,
  ReleaseStatus,
  type SharedWorkingMemoryService,
} from "../../sdk/gen/dcsm/v1/swm_service_pb.ts";
import { can, NAMESPACE_KEY, namespacesWith, principalOf } from "../common/access.ts";
import { InvalidInputError, mapErrors, PreconditionError, toConnectError } from "../common/errors.ts";
import { kemToWrite, parseKemQuery, recordToKem, resolvePageSize } from "../common/kem-mapping.ts";
import { updatedOrderPage } from "../common/keyset-page.ts";
import { DEFAULT_KEM_LIMITS, type KemLimits } from "../common/limits.ts";
import { fingerprint } from "../common/page-token.ts";
import { kemToRecord } from "../write-behind/codec.ts";
import type { PersistQueue } from "../write-behind/ports.ts";
import { streamEvents } from "./events/subscription.ts";
import { DEFAULT_SWM_LIMITS, type SwmLimits } from "./limits.ts";
import type { CounterStore, EventLog, LockInfo, LockStore, WorkingSet } from "./ports.ts";

/** Dependencies of {@link createSwmService}. */
export interface SwmServiceOptions {
  /** The working set (Redis or in-process). */
  workingSet: WorkingSet;
  /** Event log fed by the working set. */
  events: EventLog;
  /** Leased locks. */
  locks: LockStore;
  /** Counters. */
  counters: CounterStore;
  /** Durable write-behind queue; without it `persist_to_glm_if_new_or_updated` fails with `FailedPrecondition`. */
  persistQueue?: PersistQueue;
  /** Called after each enqueue (wakes the write-behind worker). */
  onEnqueued?: () => void;
  /** Transport to GLM for LoadKEMsFromGLM; without it that RPC fails with `FailedPrecondition`. */
  glm?: Transport;
  /** KEM limits. @default DEFAULT_KEM_LIMITS */
  limits?: KemLimits;
  /** SWM limits (merged over the defaults). @default DEFAULT_SWM_LIMITS */
  swmLimits?: Partial<SwmLimits>;
}

/** `metadata.namespace` when it is a string. */
function namespaceOfRecord(metadata: { [key: string]: unknown } | undefined): string | undefined {
  const v = metadata?.[NAMESPACE_KEY];
  return typeof v === "string" ? v : undefined;
}

/**
 * Lock grants are bound to the principal: the holder stored with a grant is the caller's principal
 * id and its agent id, so another principal cannot renew or release it by sending the same agent id.
 */
const HOLDER_SEPARATOR = "\u0001";
function holderOf(ctx: HandlerContext, agentId: string): string {
  return `${principalOf(ctx).id}${HOLDER_SEPARATOR}${agentId}`;
}
/** The agent id part of a stored holder (holders stored before grants were bound are returned as is). */
function agentOf(holder: string): string {
  const at = holder.indexOf(HOLDER_SEPARATOR);
  return at < 0 ? holder : holder.slice(at + 1);
}
/** The principal id part of a stored holder ("" for holders stored before grants were bound). */
function principalIdOf(holder: string): string {
  const at = holder.indexOf(HOLDER_SEPARATOR);
  return at < 0 ? "" : holder.slice(0, at);
}

function checkName(value: string, field: string, max: number): void {
  if (value.length === 0) throw new InvalidInputError(`${field} is empty`);
  if (value.length > max) throw new InvalidInputError(`${field} is longer than ${max} characters`);
}

function lockFields(l: LockInfo) {
  return {
    lockId: l.lockId,
    acquiredAtUnixMs: BigInt(l.acquiredAtMs),
    leaseExpiresAtUnixMs: BigInt(l.expiresAtMs),
    fencingToken: BigInt(l.fencingToken),
  };
}

/**
 * Creates the SWM service implementation.
 *
 * Errors (Connect codes): `InvalidArgument` for bad input (KEM, query, vector/text query, page
 * size/token, names, lease or wait out of bounds, topics); `FailedPrecondition` when write-behind
 * or GLM is not configured; `ResourceExhausted` when the backend is out of memory, too many event
 * streams are open, or a consumer is too slow; `Unavailable` when Redis or GLM is down.
 * @param options - backends and limits.
 */
export function createSwmService(options: SwmServiceOptions): ServiceImpl<typeof SharedWorkingMemoryService> {
  const { workingSet, events, locks, counters, persistQueue } = options;
  const limits = options.limits ?? DEFAULT_KEM_LIMITS;
  const swm: SwmLimits = { ...DEFAULT_SWM_LIMITS, ...options.swmLimits };
  const glm = options.glm ? createClient(GlobalLongTermMemoryService, options.glm) : undefined;
  const releaseWaiters = new Set<() => void>();

  return {
    // On Redis the PUT script caches and queues the KEM in one atomic step. Otherwise the KEM is
    // cached first, then queued: if queuing fails the call fails (Unavailable) with the KEM cached
    // but not queued; publishing again is safe (same id → KEM_UPDATED, queued once more).
    publishKEMToSWM: mapErrors(async (req) => {
      if (req.agentId.length > swm.maxNameLength)
        throw new InvalidInputError(`agent_id is longer than ${swm.maxNameLength} characters`);
      const write = kemToWrite(req.kemToPublish, limits);
      if (req.persistToGlmIfNewOrUpdated && !persistQueue)
        throw new PreconditionError("write-behind to GLM is not configured on this SWM");
      const persist = req.persistToGlmIfNewOrUpdated;
      // A working set that can queue the KEM itself (Redis) does so atomically with caching it.
      const [res] = await workingSet.put([write], { agentId: req.agentId, persist });
      let queued = false;
      if (persist && persistQueue) {
        if (!res!.queued) await persistQueue.enqueue([res!.record]);
        options.onEnqueued?.();
        queued = true;
      }
      return create(PublishKEMToSWMResponseSchema, {
        kemId: res!.record.id,
        publishedToSwm: true,
        queuedForGlmPersistence: queued,
        statusMessage: `${res!.existed ? "updated" : "published"} in SWM${queued ? "; queued for GLM" : ""}`,
        kem: recordToKem(res!.record),
      });
    }),

    async *subscribeToSWMEvents(req, ctx: HandlerContext) {
      try {
        if (req.agentId.length > swm.maxNameLength)
          throw new InvalidInputError(`agent_id is longer than ${swm.maxNameLength} characters`);
        // A caller confined to namespaces only sees events of KEMs in them (docs/security.md).
        const principal = principalOf(ctx);
        const allowed = namespacesWith(principal, "subscribe");
        yield* streamEvents(
          events,
          events.epoch,
          req,
          swm,
          ctx.signal,
          allowed === "all" ? undefined : new Set(allowed),
          principal.id,
        );
      } catch (err) {
        throw toConnectError(err);
      }
    },

    querySWM: mapErrors(async (req) => {
      const parsed = parseKemQuery(req.query, limits);
      if (parsed.vector || parsed.text !== undefined) {
        throw new InvalidInputError(
          "QuerySWM does not support embedding_query or text_query; use GLM RetrieveKEMs for semantic search",
        );
      }
      if (req.query?.searchMode)
        throw new InvalidInputError("QuerySWM does not support search_mode; use GLM RetrieveKEMs for ranked search");
      const pageSize = resolvePageSize(req.pageSize, limits);
      const key = fingerprint(JSON.stringify(["swm", parsed.filter]));
      const page = await updatedOrderPage({
        pageToken: req.pageToken,
        queryKey: key,
        pageSize,
        maxResponseBytes: limits.maxResponseBytes,
        read: (limit, after) => workingSet.query({ filter: parsed.filter, limit, after }),
      });
      return create(QuerySWMResponseSchema, page);
    }),

    loadKEMsFromGLM: mapErrors(async (req, ctx) => {
      if (!glm) throw new PreconditionError("this SWM has no GLM configured");
      if (req.limit < 0) throw new InvalidInputError("limit must not be negative");
      if (req.limit > swm.maxLoadLimit)
        throw new InvalidInputError(`limit ${req.limit} is over the limit of ${swm.maxLoadLimit}`);
      const want = req.limit === 0 ? swm.defaultLoadLimit : req.limit;
      parseKemQuery(req.queryForGlm, limits); // same validation as GLM, before calling it
      const ids: string[] = [];
      const principal = principalOf(ctx);
      let skipped = 0;
      let token = "";
      do {
        const page = await glm.retrieveKEMs(
          { query: req.queryForGlm, pageSize: Math.min(want - ids.length, limits.maxPageSize), pageToken: token },
          { signal: ctx.signal },
        );
        let items = page.kems.map((k) => kemToRecord(k));
        // Ownership across stores: an id SWM holds in a namespace the caller may not publish to
        // is not replaced by GLM's KEM of the same id.
        if (items.length > 0 && namespacesWith(principal, "publish") !== "all") {
          const cached = await workingSet.get(items.map((r) => r.id));
          const foreign = new Set(
            cached.filter((r) => !can(principal, namespaceOfRecord(r.metadata), "publish")).map((r) => r.id),
          );
          skipped += foreign.size;
          items = items.filter((r) => !foreign.has(r.id));
        }
        if (items.length > 0) {
          const res = await workingSet.put(items, { agentId: "", details: "loaded from GLM", keepTimestamps: true });
          ids.push(...res.map((r) => r.record.id));
        }
        token = page.nextPageToken;
      } while (token && ids.length < want);
      const note =
        skipped > 0 ? `; skipped ${skipped} whose id SWM holds in a namespace ${principal.id} may not publish to` : "";
      return create(LoadKEMsFromGLMResponseSchema, {
        loadedKemsCount: ids.length,
        loadedKemIds: ids,
        statusMessage: `loaded ${ids.length} KEMs from GLM${note}`,
      });
    }),

    acquireLock: mapErrors(async (req, ctx) => {
      checkName(req.resourceId, "resource_id", swm.maxNameLength);
      checkName(req.agentId, "agent_id", swm.maxNameLength);
      const lease = req.leaseDurationMs === 0 ? swm.defaultLeaseMs : req.leaseDurationMs;
      if (lease < swm.minLeaseMs || lease > swm.maxLeaseMs)
        throw new InvalidInputError(`lease_duration_ms must be between ${swm.minLeaseMs} and ${swm.maxLeaseMs}`);
      if (req.timeoutMs < 0 || req.timeoutMs > swm.maxLockWaitMs)
        throw new InvalidInputError(`timeout_ms must be between 0 and ${swm.maxLockWaitMs}`);
      const deadline = Date.now() + req.timeoutMs;
      const lockId = uuidv7();
      let pause = 5;
      for (;;) {
        const a = await locks.tryAcquire(req.resourceId, holderOf(ctx, req.agentId), lockId, lease);
        const base = { resourceId: req.resourceId, agentId: req.agentId, ...lockFields(a.lock) };
        if (a.status === "acquired")
          return create(AcquireLockResponseSchema, { ...base, status: LockStatus.ACQUIRED, message: "lock acquired" });
        if (a.status === "renewed")
          return create(AcquireLockResponseSchema, {
            ...base,
            status: LockStatus.ALREADY_HELD_BY_YOU,
            message: "already held by you; lease renewed",
          });
        const left = deadline - Date.now();
        if (left <= 0 || ctx.signal.aborted) {
          return create(AcquireLockResponseSchema, {
            resourceId: req.resourceId,
            agentId: req.agentId,
            status: req.timeoutMs === 0 ? LockStatus.NOT_AVAILABLE : LockStatus.TIMEOUT,
            message: `held by ${agentOf(a.lock.agentId)} until ${new Date(a.lock.expiresAtMs).toISOString()}`,
          });
        }
        // Wait for a local release, the lease end, or a short poll (other processes), whichever is first.
        const wait = Math.max(1, Math.min(left, a.lock.expiresAtMs - Date.now() + 1, pause * (0.5 + Math.random())));
        pause = Math.min(pause * 2, 100);
        const ac = new AbortController();
        const wake = () => ac.abort();
        releaseWaiters.add(wake);
        ctx.signal.addEventListener("abort", wake, { once: true });
        await abortableSleep(wait, ac.signal);
        releaseWaiters.delete(wake);
        ctx.signal.removeEventListener("abort", wake);
      }
    }),

    releaseLock: mapErrors(async (req, ctx) => {
      checkName(req.resourceId, "resource_id", swm.maxNameLength);
      checkName(req.agentId, "agent_id", swm.maxNameLength);
      checkName(req.lockId, "lock_id", swm.maxNameLength);
      const outcome = await locks.release(req.resourceId, holderOf(ctx, req.agentId), req.lockId);
      if (outcome === "released") for (const w of [...releaseWaiters]) w();
      const status =
        outcome === "released"
          ? ReleaseStatus.RELEASED
          : outcome === "not_held"
            ? ReleaseStatus.NOT_HELD
            : ReleaseStatus.INVALID_LOCK_ID;
      const message =
        outcome === "released"
          ? "released"
          : outcome === "not_held"
            ? "the lock is not held (or its lease expired)"
            : "held by another agent or grant; nothing changed";
      return create(ReleaseLockResponseSchema, { resourceId: req.resourceId, status, message });
    }),

    // The lock id is the release credential: only the principal holding the grant sees it.
    getLockInfo: mapErrors(async (req, ctx) => {
      checkName(req.resourceId, "resource_id", swm.maxNameLength);
      const l = await locks.info(req.resourceId);
      if (!l) return create(GetLockInfoResponseSchema, { resourceId: req.resourceId, isLocked: false });
      const mine = principalIdOf(l.agentId) === principalOf(ctx).id;
      return create(GetLockInfoResponseSchema, {
        resourceId: req.resourceId,
        isLocked: true,
        currentHolderAgentId: agentOf(l.agentId),
        ...lockFields(l),
        lockId: mine ? l.lockId : "",
      });
    }),

    incrementCounter: mapErrors(async (req) => {
      checkName(req.counterId, "counter_id", swm.maxNameLength);
      const value = await counters.increment(req.counterId, req.incrementBy === 0n ? 1n : req.incrementBy);
      return create(IncrementCounterResponseSchema, { counterId: req.counterId, currentValue: value });
    }),

    getCounter: mapErrors(async (req) => {
      checkName(req.counterId, "counter_id", swm.maxNameLength);
      return create(GetCounterResponseSchema, {
        counterId: req.counterId,
        currentValue: await counters.get(req.counterId),
      });
    }),
  };
}
