/**
 * SubscribeToSWMEvents (docs/consistency.md "Events"): topic parsing and matching, and the event stream
 * itself — history replay or RELOAD_REQUIRED on resume, live events through a bounded buffer,
 * HEARTBEAT events on idle streams, a clean end when the client cancels.
 * @module
 */
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { KEMSchema } from "../../../sdk/gen/dcsm/v1/kem_pb.ts";
import {
  EventType,
  type SubscribeToSWMEventsRequest,
  SubscriptionTopic_TopicType,
  type SWMMemoryEvent,
  SWMMemoryEventSchema,
} from "../../../sdk/gen/dcsm/v1/swm_service_pb.ts";
import { NAMESPACE_KEY } from "../../common/access.ts";
import { InvalidInputError, LimitExceededError } from "../../common/errors.ts";
import { recordToKem } from "../../common/kem-mapping.ts";
import type { SwmLimits } from "../limits.ts";
import type { EventLog, SwmEvent, SwmEventKind } from "../ports.ts";
import { EventQueue } from "./event-queue.ts";

/** A parsed topic: event kinds wanted (empty = all) and one criterion. */
export interface Topic {
  /** Kinds wanted; empty means every lifecycle kind. */
  kinds: Set<SwmEventKind>;
  /** "" matches everything; otherwise a KEM id or a metadata equality. */
  criterion: { type: "all" } | { type: "kem_id"; id: string } | { type: "metadata"; key: string; value: string };
}

const KIND_OF: Partial<Record<EventType, SwmEventKind>> = {
  [EventType.KEM_PUBLISHED]: "published",
  [EventType.KEM_UPDATED]: "updated",
  [EventType.KEM_EVICTED]: "evicted",
  [EventType.KEM_DELETED]: "deleted",
};
const TYPE_OF: Record<SwmEventKind, EventType> = {
  published: EventType.KEM_PUBLISHED,
  updated: EventType.KEM_UPDATED,
  evicted: EventType.KEM_EVICTED,
  deleted: EventType.KEM_DELETED,
};

/**
 * Parses and validates the request's topics (filter syntax, as in `swm_service.proto`: "",
 * "kem_id=<id>", "metadata.<key>=<value>"; an event matches when any topic matches).
 * @throws InvalidInputError (→ `InvalidArgument`) for an unknown topic type, filter syntax or
 *   event type, or more than `maxTopics` topics.
 */
export function parseTopics(req: SubscribeToSWMEventsRequest, limits: SwmLimits): Topic[] {
  if (req.topics.length > limits.maxTopics)
    throw new InvalidInputError(`topics has ${req.topics.length} entries, over the limit of ${limits.maxTopics}`);
  return req.topics.map((t, i) => {
    if (
      t.type !== SubscriptionTopic_TopicType.UNSPECIFIED &&
      t.type !== SubscriptionTopic_TopicType.KEM_LIFECYCLE_EVENTS
    ) {
      throw new InvalidInputError(`topics[${i}].type ${t.type} is unknown`);
    }
    const kinds = new Set<SwmEventKind>();
    for (const et of t.eventTypes) {
      const k = KIND_OF[et];
      if (!k)
        throw new InvalidInputError(
          `topics[${i}].event_types: ${EventType[et] ?? et} cannot be subscribed to; use KEM_PUBLISHED, KEM_UPDATED, KEM_EVICTED or KEM_DELETED`,
        );
      kinds.add(k);
    }
    const f = t.filterCriteria.trim();
    if (f === "") return { kinds, criterion: { type: "all" } };
    const m = /^kem_id=(.+)$/.exec(f);
    if (m) return { kinds, criterion: { type: "kem_id", id: m[1]! } };
    const md = /^metadata\.([^=]+)=(.*)$/.exec(f);
    if (md) return { kinds, criterion: { type: "metadata", key: md[1]!, value: md[2]! } };
    throw new InvalidInputError(
      `topics[${i}].filter_criteria ${JSON.stringify(f.slice(0, 64))} is invalid; use "", "kem_id=<id>" or "metadata.<key>=<value>"`,
    );
  });
}

/** True when `e` matches any topic (no topics: everything). Metadata values compare as text. */
export function matches(e: SwmEvent, topics: Topic[]): boolean {
  if (topics.length === 0) return true;
  return topics.some((t) => {
    if (t.kinds.size > 0 && !t.kinds.has(e.kind)) return false;
    const c = t.criterion;
    if (c.type === "all") return true;
    if (c.type === "kem_id") return e.kemId === c.id;
    const v = e.metadata[c.key];
    return v !== undefined && v !== null && typeof v !== "object" && String(v) === c.value;
  });
}

/** True when `namespaces` is unset or names the event's KEM namespace. */
function inNamespaces(e: SwmEvent, namespaces: ReadonlySet<string> | undefined): boolean {
  if (!namespaces) return true;
  const ns = e.metadata[NAMESPACE_KEY];
  return typeof ns === "string" && namespaces.has(ns);
}

/** Converts a log event to the wire message. */
export function toWireEvent(e: SwmEvent, epoch: string): SWMMemoryEvent {
  const full = e.kind === "published" || e.kind === "updated";
  const kem =
    full && e.kem ? recordToKem(e.kem) : create(KEMSchema, { id: e.kemId, metadata: full ? e.metadata : undefined });
  const gone = full && !e.kem ? " (this version is no longer cached; reload it)" : "";
  return create(SWMMemoryEventSchema, {
    eventId: `${epoch}-${e.sequence}`,
    eventType: TYPE_OF[e.kind],
    kemPayload: kem,
    eventTime: timestampFromMs(e.timeMs),
    sourceAgentId: e.agentId,
    details: e.details + gone,
    sequence: BigInt(e.sequence),
  });
}

/** Wire form of each event, built once and shared by every stream that sends it (fan-out cost per subscriber stays a queue push). */
const wireCache = new WeakMap<SwmEvent, SWMMemoryEvent>();
function sharedWire(e: SwmEvent, epoch: string): SWMMemoryEvent {
  let w = wireCache.get(e);
  if (!w) {
    w = toWireEvent(e, epoch);
    wireCache.set(e, w);
  }
  return w;
}

function special(type: EventType, details: string): SWMMemoryEvent {
  return create(SWMMemoryEventSchema, {
    eventId: "",
    eventType: type,
    eventTime: timestampFromMs(Date.now()),
    details,
    sequence: 0n,
  });
}

/** Active stream count per event log (the per-process subscriber limit). */
const active = new WeakMap<EventLog, number>();
/** Active stream count per event log and principal id (the per-principal subscriber limit). */
const activeByPrincipal = new WeakMap<EventLog, Map<string, number>>();

/**
 * Streams matching events until `signal` aborts.
 * @throws InvalidInputError for bad topics; LimitExceededError (→ `ResourceExhausted`) when the
 *   process already serves `maxSubscribers` streams, or later when this consumer falls
 *   `subscriberBuffer` events behind.
 * @param namespaces - when set, only events of KEMs in these namespaces (metadata `namespace`,
 *   an SWM-indexed key, so evicted and deleted events carry it too) are sent (docs/security.md).
 * @param principalId - the caller, counted against `maxSubscribersPerPrincipal` (so one principal
 *   cannot take every stream slot of the process); `LimitExceededError` beyond.
 */
export async function* streamEvents(
  log: EventLog,
  epoch: string,
  req: SubscribeToSWMEventsRequest,
  limits: SwmLimits,
  signal: AbortSignal,
  namespaces?: ReadonlySet<string>,
  principalId = "",
): AsyncGenerator<SWMMemoryEvent> {
  const topics = parseTopics(req, limits);
  const after = req.resumeAfterSequence === undefined ? undefined : Number(req.resumeAfterSequence);
  const n = active.get(log) ?? 0;
  if (n >= limits.maxSubscribers)
    throw new LimitExceededError(`this SWM already serves ${limits.maxSubscribers} event streams; retry later`);
  let byPrincipal = activeByPrincipal.get(log);
  if (!byPrincipal) {
    byPrincipal = new Map();
    activeByPrincipal.set(log, byPrincipal);
  }
  const mine = byPrincipal.get(principalId) ?? 0;
  if (mine >= limits.maxSubscribersPerPrincipal)
    throw new LimitExceededError(
      `${principalId || "this caller"} already has ${limits.maxSubscribersPerPrincipal} open event streams, the limit per principal; close one or retry later`,
    );
  byPrincipal.set(principalId, mine + 1);
  active.set(log, n + 1);
  const queue = new EventQueue<SWMMemoryEvent>(limits.subscriberBuffer);
  const overflow = () =>
    new LimitExceededError(
      `event stream dropped: the consumer fell ${limits.subscriberBuffer} events behind; resume with resume_after_sequence`,
    );
  let sub: { close(): void } | undefined;
  try {
    const s = await log.subscribe(
      after,
      (e) => void (matches(e, topics) && inNamespaces(e, namespaces) && queue.push(sharedWire(e, epoch), overflow)),
      () =>
        void queue.push(
          special(EventType.RELOAD_REQUIRED, "the SWM event log was reset; reload cached KEMs"),
          overflow,
        ),
    );
    sub = s;
    // The first message tells the client its subscription is registered (and sends the response
    // headers at once instead of after the first event or heartbeat interval).
    if (s.reloadRequired)
      yield special(EventType.RELOAD_REQUIRED, `events after sequence ${after} are no longer kept; reload cached KEMs`);
    else yield special(EventType.HEARTBEAT, "subscribed");
    for (;;) {
      const r = await queue.next(limits.heartbeatMs, signal);
      if (r === "aborted") return;
      yield r === "idle" ? special(EventType.HEARTBEAT, "") : r.value;
    }
  } finally {
    sub?.close();
    active.set(log, (active.get(log) ?? 1) - 1);
    const left = (byPrincipal.get(principalId) ?? 1) - 1;
    if (left > 0) byPrincipal.set(principalId, left);
    else byPrincipal.delete(principalId);
  }
}
