/**
 * In-process event log: a ring buffer of the last `historySize` events with synchronous fan-out
 * to subscribers (the embedded backend's half of seed 3.4 "subscription to events").
 * @module
 */
import { v7 as uuidv7 } from "uuid";
import type { EventLog, EventSubscription, SwmEvent } from "../ports.ts";

/** Options of {@link createMemoryEventLog}. */
export interface MemoryEventLogOptions {
  /** Events kept for resuming subscribers. @default 10000 */
  historySize?: number;
}

/** An in-process {@link EventLog} that the in-process working set appends to. */
export interface MemoryEventLog extends EventLog {
  /** Appends an event, assigns its sequence number and delivers it. @returns the sequence number. */
  append(event: Omit<SwmEvent, "sequence">): number;
}

/**
 * Creates an in-process event log. Sequence numbers continue from the creation time in µs.
 * @param options - history size.
 */
export function createMemoryEventLog(options: MemoryEventLogOptions = {}): MemoryEventLog {
  const capacity = options.historySize ?? 10_000;
  if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError("historySize must be an integer >= 1");
  const ring: (SwmEvent | undefined)[] = new Array(capacity);
  // Sequences start at the creation time in µs: resume points from an earlier process (whose log
  // is gone) are always older than this log and get RELOAD_REQUIRED.
  const base = Date.now() * 1000;
  let last = base;
  const subscribers = new Set<(e: SwmEvent) => void>();

  return {
    epoch: uuidv7(),
    append(event) {
      const e: SwmEvent = { ...event, sequence: ++last };
      ring[last % capacity] = e;
      for (const s of subscribers) s(e);
      return last;
    },
    async subscribe(afterSequence, onEvent): Promise<EventSubscription> {
      let reloadRequired = false;
      if (afterSequence !== undefined) {
        const oldest = Math.max(base + 1, last - capacity + 1);
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
    async close() {
      subscribers.clear();
    },
  };
}
