/**
 * `handleSwmEvents`: a resilient SWM event subscription (docs/consistency.md "The agent's local memory") that
 * keeps the agent's local memory coherent — published and updated KEMs replace the cached copy,
 * evicted and deleted ones are dropped — and reconnects after network drops with its last
 * sequence number, reloading the cache when the server says events were lost (RELOAD_REQUIRED).
 * Browser-safe: no `node:` or `bun:` imports.
 * @module
 */
import { type Client, Code, ConnectError } from "@connectrpc/connect";
import { abortableSleep } from "./abortable-sleep.ts";
import { EventType, type SharedWorkingMemoryService, type SWMMemoryEvent } from "./gen/dcsm/v1/swm_service_pb.ts";
import type { LocalAgentMemory } from "./local-agent-memory.ts";

/** Which events to receive; criteria are OR-ed (an event matching any is delivered). Empty: all. */
export interface SwmEventFilter {
  /** KEM ids (one topic `kem_id=<id>` each). */
  kemIds?: readonly string[];
  /**
   * Metadata equalities (one topic `metadata.<key>=<value>` each). With `autoUpdateLpa`, every
   * eviction and deletion is also received (SWM's removal events carry only its indexed metadata
   * keys), applied to the LPA, and passed to the handler only for KEMs the LPA held or that match.
   */
  metadata?: Readonly<Record<string, string>>;
  /** Event types wanted (KEM_PUBLISHED, KEM_UPDATED, KEM_EVICTED, KEM_DELETED). @default all four */
  eventTypes?: readonly EventType[];
}

/** Options of `handleSwmEvents`. */
export interface HandleSwmEventsOptions {
  /** Apply events to the local memory before calling the handler. @default true */
  autoUpdateLpa?: boolean;
  /** Stops the subscription when aborted. */
  signal?: AbortSignal;
  /** First reconnect delay, ms (doubles with jitter per failed attempt). @default 100 */
  reconnectInitialDelayMs?: number;
  /** Longest reconnect delay, ms. @default 5000 */
  reconnectMaxDelayMs?: number;
  /**
   * Reconnect when nothing (not even a HEARTBEAT) arrived for this long, ms; catches silent drops.
   * Set it above the server's heartbeat interval (`DCSM_SWM_HEARTBEAT_MS`, 15 s). 0 disables.
   * @default 45000
   */
  idleTimeoutMs?: number;
  /** Called with each error that causes a reconnect, and with errors thrown by the handler. */
  onError?: (err: ConnectError) => void;
}

/** A running subscription. */
export interface SwmEventSubscription {
  /** Sequence number of the last lifecycle event applied (undefined before the first). */
  readonly lastSequence: bigint | undefined;
  /** Streams opened so far (1 + reconnects). */
  readonly connections: number;
  /** Times the local memory was reloaded (RELOAD_REQUIRED, event log reset, or blind reconnect). */
  readonly reloads: number;
  /**
   * Resolves when the first stream is live: SWM starts every stream with a "subscribed"
   * HEARTBEAT, sent once the subscription is registered, so from then on no event is missed.
   * Also resolves when the subscription ends first.
   */
  readonly ready: Promise<void>;
  /** Resolves after `close()` or abort; rejects with a `ConnectError` on a non-retryable error (`InvalidArgument`, `Unimplemented`, `PermissionDenied`, `Unauthenticated`, `FailedPrecondition`). */
  readonly done: Promise<void>;
  /** Stops the subscription. */
  close(): void;
}

/** Codes after which reconnecting cannot help. */
const FATAL = new Set([
  Code.InvalidArgument,
  Code.Unimplemented,
  Code.PermissionDenied,
  Code.Unauthenticated,
  Code.FailedPrecondition,
]);

const REMOVALS = [EventType.KEM_EVICTED, EventType.KEM_DELETED];

/**
 * Topics for a filter. With `coherent`, a metadata filter also subscribes to every eviction and
 * deletion: SWM removal events carry only the metadata keys SWM indexes (`DCSM_SWM_INDEXED_KEYS`),
 * so a filter on another key would never see its KEMs leave.
 */
function topicsOf(f: SwmEventFilter, coherent: boolean) {
  const eventTypes = [...(f.eventTypes ?? [])];
  const criteria = [
    ...(f.kemIds ?? []).map((id) => `kem_id=${id}`),
    ...Object.entries(f.metadata ?? {}).map(([k, v]) => `metadata.${k}=${v}`),
  ];
  if (criteria.length === 0) return eventTypes.length ? [{ filterCriteria: "", eventTypes }] : [];
  const topics = criteria.map((filterCriteria) => ({ filterCriteria, eventTypes }));
  const wantsRemovals = eventTypes.length === 0 || eventTypes.some((t) => REMOVALS.includes(t));
  if (coherent && wantsRemovals && Object.keys(f.metadata ?? {}).length > 0)
    topics.push({ filterCriteria: "", eventTypes: REMOVALS });
  return topics;
}

/**
 * Reloads every cached KEM from SWM (`QuerySWM` by ids, 1000 per call): found ones replace the
 * cached copy, the others are dropped (they left the working set while events were missed).
 */
export async function reloadLocalMemory(
  swm: Client<typeof SharedWorkingMemoryService>,
  lpa: LocalAgentMemory,
  signal?: AbortSignal,
): Promise<void> {
  const ids = lpa.ids();
  for (let i = 0; i < ids.length; i += 1000) {
    const chunk = ids.slice(i, i + 1000);
    const found = new Set<string>();
    let pageToken = "";
    do {
      const page = await swm.querySWM({ query: { ids: chunk }, pageSize: 1000, pageToken }, { signal });
      for (const k of page.kems) {
        found.add(k.id);
        lpa.delete(k.id);
        lpa.put(k);
      }
      pageToken = page.nextPageToken;
    } while (pageToken);
    for (const id of chunk) if (!found.has(id)) lpa.delete(id);
  }
}

function removalMatches(f: SwmEventFilter, ev: SWMMemoryEvent): boolean {
  const md = f.metadata ?? {};
  if (Object.keys(md).length === 0) return true;
  const id = ev.kemPayload?.id ?? "";
  if (f.kemIds?.includes(id)) return true;
  const have = ev.kemPayload?.metadata ?? {};
  return Object.entries(md).some(([k, v]) => have[k] !== undefined && String(have[k]) === v);
}

/** Applies one lifecycle event to the local memory. */
export function applyEventToLpa(lpa: LocalAgentMemory, ev: SWMMemoryEvent): void {
  const kem = ev.kemPayload;
  if (!kem?.id) return;
  const full = ev.eventType === EventType.KEM_PUBLISHED || ev.eventType === EventType.KEM_UPDATED;
  // A published/updated event without timestamps means the version is gone from SWM: drop ours.
  if (full && kem.updatedAt) lpa.put(kem);
  else if (full || ev.eventType === EventType.KEM_EVICTED || ev.eventType === EventType.KEM_DELETED) lpa.delete(kem.id);
}

/**
 * Subscribes to SWM events until closed. See {@link HandleSwmEventsOptions}.
 * @param swm - SWM client. @param lpa - the local memory to keep coherent. @param agentId - sent with the subscription.
 * @param handler - called for each lifecycle event and each RELOAD_REQUIRED (after the reload), in order, never concurrently.
 */
export function subscribeSwmEvents(
  swm: Client<typeof SharedWorkingMemoryService>,
  lpa: LocalAgentMemory,
  agentId: string,
  filter: SwmEventFilter,
  handler: (ev: SWMMemoryEvent) => void | Promise<void>,
  options: HandleSwmEventsOptions = {},
): SwmEventSubscription {
  const auto = options.autoUpdateLpa ?? true;
  const initialDelay = options.reconnectInitialDelayMs ?? 100;
  const maxDelay = options.reconnectMaxDelayMs ?? 5000;
  const idleMs = options.idleTimeoutMs ?? 45_000;
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  options.signal?.addEventListener("abort", onAbort, { once: true });
  if (options.signal?.aborted) stop.abort();
  const topics = topicsOf(filter, auto);
  const state = {
    lastSequence: undefined as bigint | undefined,
    epoch: undefined as string | undefined,
    connections: 0,
    reloads: 0,
  };
  let markReady!: () => void;
  const ready = new Promise<void>((r) => (markReady = r));
  const report = (err: unknown) => options.onError?.(ConnectError.from(err));

  const reload = async () => {
    state.reloads++;
    if (auto) await reloadLocalMemory(swm, lpa, stop.signal);
  };

  const handle = async (ev: SWMMemoryEvent) => {
    if (ev.eventType === EventType.HEARTBEAT) return;
    if (ev.eventType === EventType.RELOAD_REQUIRED) {
      // Missed events, or the server's event log was reset (sequences restart): forget the
      // position, so the next event is taken whatever its number, then re-read the cache.
      state.lastSequence = undefined;
      state.epoch = undefined;
      await reload();
    } else {
      const epoch = ev.eventId.endsWith(`-${ev.sequence}`) ? ev.eventId.slice(0, -`-${ev.sequence}`.length) : undefined;
      if (epoch && state.epoch && epoch !== state.epoch) {
        state.lastSequence = undefined; // the server's event log was reset: sequences restarted
        await reload();
      }
      if (epoch) state.epoch = epoch;
      if (state.lastSequence !== undefined && ev.sequence <= state.lastSequence) return; // replayed twice
      const removal = REMOVALS.includes(ev.eventType);
      const wasCached = removal && !!ev.kemPayload && lpa.has(ev.kemPayload.id);
      if (auto) applyEventToLpa(lpa, ev);
      state.lastSequence = ev.sequence;
      // Removals of KEMs this agent neither caches nor asked about came from the extra coherence topic.
      if (removal && auto && !wasCached && !removalMatches(filter, ev)) return;
    }
    try {
      await handler(ev);
    } catch (err) {
      report(err);
    }
  };

  const run = async () => {
    let delay = initialDelay;
    while (!stop.signal.aborted) {
      const call = new AbortController();
      const cut = () => call.abort();
      stop.signal.addEventListener("abort", cut, { once: true });
      let idle: ReturnType<typeof setTimeout> | undefined;
      const touch = () => {
        if (idle) clearTimeout(idle);
        if (idleMs > 0)
          idle = setTimeout(
            () => call.abort(new ConnectError(`no SWM event or heartbeat for ${idleMs} ms`, Code.Unavailable)),
            idleMs,
          );
      };
      const blind = state.connections > 0 && state.lastSequence === undefined;
      state.connections++;
      try {
        touch();
        // Reconnected without a sequence to resume from: events may have been missed, so reload
        // once the new stream is accepted (events arriving meanwhile wait for the reload).
        let reloading: Promise<void> | undefined;
        const stream = swm.subscribeToSWMEvents(
          { agentId, topics, resumeAfterSequence: state.lastSequence },
          {
            signal: call.signal,
            onHeader: () => {
              markReady();
              // A failed reload ends this stream; the next one reloads again.
              if (blind)
                reloading = reload().catch((err: unknown) => call.abort(ConnectError.from(err, Code.Unavailable)));
            },
          },
        );
        for await (const ev of stream) {
          touch();
          delay = initialDelay;
          if (reloading) await reloading;
          await handle(ev);
        }
      } catch (err) {
        if (stop.signal.aborted) break;
        const ce = ConnectError.from(call.signal.aborted && call.signal.reason ? call.signal.reason : err);
        if (FATAL.has(ce.code)) throw ce;
        report(ce);
      } finally {
        if (idle) clearTimeout(idle);
        stop.signal.removeEventListener("abort", cut);
      }
      await abortableSleep(delay * (0.5 + Math.random()), stop.signal);
      delay = Math.min(delay * 2, maxDelay);
    }
  };

  const done = run().finally(() => {
    options.signal?.removeEventListener("abort", onAbort);
    markReady();
  });
  return {
    get lastSequence() {
      return state.lastSequence;
    },
    get connections() {
      return state.connections;
    },
    get reloads() {
      return state.reloads;
    },
    ready,
    done,
    close: () => stop.abort(),
  };
}
