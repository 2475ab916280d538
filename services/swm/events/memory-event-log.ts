/**
 * In-process event log: a ring buffer of the last `historySize` events, bounded also in bytes
 * (`historyBytes`), with synchronous fan-out to subscribers: the in-process backend of SWM's
 * event subscriptions.
 * @module
 */
import { v7 as uuidv7 } from "uuid";
import { SWM_DEFAULTS } from "../../common/defaults.ts";
import type { EventLog, EventSubscription, SwmEvent } from "../ports.ts";
import { recordBytes } from "../working-set/query-plan.ts";

/** Options of {@link createMemoryEventLog}. */
export interface MemoryEventLogOptions {
  /** Events kept for resuming subscribers. @default 10000 */
  historySize?: number;
  /**
   * Byte budget of the kept events (each counted as its KEM's content, embedding and metadata
   * plus a fixed overhead, see {@link eventBytes}). Beyond it the oldest events are dropped (the
   * newest is always kept); a resume from a dropped sequence gets RELOAD_REQUIRED, as one older
   * than `historySize`. @default 67108864 (64 MiB)
   */
  historyBytes?: number;
}

/** Default {@link MemoryEventLogOptions.historyBytes}: 64 MiB. */
export const DEFAULT_EVENT_HISTORY_BYTES = SWM_DEFAULTS.eventHistoryBytes;

/** Approximate bytes an event holds: its KEM (when carried) and its metadata, plus 200 bytes of overhead. */
export function eventBytes(e: SwmEvent): number {
  return (
    (e.kem ? recordBytes(e.kem) : 0) +
    JSON.stringify(e.metadata).length +
    (e.kemId.length + e.agentId.length + e.details.length) * 2 +
    200
  );
}

/** An in-process {@link EventLog} that the in-process working set appends to. */
export interface MemoryEventLog extends EventLog {
  /** Appends an event, assigns its sequence number and delivers it. @returns the sequence number. */
  append(event: Omit<SwmEvent, "sequence">): number;
  /** Bytes the kept events hold (as counted against `historyBytes`). */
  historyBytes(): number;
}

/**
 * Creates an in-process event log. Sequence numbers continue from the creation time in µs.
 * @param options - history size in events and in bytes.
 * @throws RangeError for a history size or byte budget below 1.
 */
export function createMemoryEventLog(options: MemoryEventLogOptions = {}): MemoryEventLog {
  const capacity = options.historySize ?? SWM_DEFAULTS.eventHistory;
  if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError("historySize must be an integer >= 1");
  const maxBytes = options.historyBytes ?? DEFAULT_EVENT_HISTORY_BYTES;
  if (!Number.isInteger(maxBytes) || maxBytes < 1) throw new RangeError("historyBytes must be an integer >= 1");
  const ring: (SwmEvent | undefined)[] = new Array(capacity);
  const sizes = new Float64Array(capacity);
  let bytes = 0;
  // Sequences start at the creation time in µs: resume points from an earlier process (whose log
  // is gone) are always older than this log and get RELOAD_REQUIRED.
  const base = Date.now() * 1000;
  let last = base;
  // Oldest sequence still kept by the byte budget (the count bound is `last - capacity + 1`).
  let firstKept = base + 1;
  const oldestKept = () => Math.max(base + 1, last - capacity + 1, firstKept);
  const subscribers = new Set<(e: SwmEvent) => void>();

  return {
    epoch: uuidv7(),
    append(event) {
      const e: SwmEvent = { ...event, sequence: ++last };
      const slot = last % capacity;
      bytes += eventBytes(e) - sizes[slot]!; // the slot's previous event (if still kept) leaves
      ring[slot] = e;
      sizes[slot] = eventBytes(e);
      let oldest = oldestKept();
      while (bytes > maxBytes && oldest < last) {
        const j = oldest % capacity;
        bytes -= sizes[j]!;
        sizes[j] = 0;
        ring[j] = undefined;
        oldest++;
      }
      firstKept = oldest;
      for (const s of subscribers) s(e);
      return last;
    },
    async subscribe(afterSequence, onEvent): Promise<EventSubscription> {
      let reloadRequired = false;
      if (afterSequence !== undefined) {
        const oldest = oldestKept();
        // 0 means "from the start of the log": fine while nothing was dropped yet.
        const from = afterSequence === 0 && oldest === base + 1 ? base : afterSequence;
        if (from > last || from + 1 < oldest) reloadRequired = true;
        else for (let s = from + 1; s <= last; s++) onEvent(ring[s % capacity]!);
      }
      subscribers.add(onEvent);
      return {
        reloadRequired,
        close: () => void subscribers.delete(onEvent),
      };
    },
    async lastSequence() {
      return last;
    },
    historyBytes() {
      return bytes;
    },
    async close() {
      subscribers.clear();
    },
  };
}
