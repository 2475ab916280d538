/**
 * Redis event log: the `swm_events` stream written by the working-set scripts (entry id
 * `<sequence>-0`, bounded with `XADD MAXLEN ~`), read by one blocking `XREAD` loop per process and
 * fanned out to that process's subscribers. Every SWM process on the same Redis sees every event,
 * whichever process caused it (docs/redis-layout.md "Events").
 *
 * Stream entries hold headers only (kind, id, agent, time, metadata, updated_at); the KEM payload
 * of published/updated events is read from the working set when that version is still cached,
 * so the stream's memory does not grow with content size.
 * @module
 */
import type { JsonObject } from "@bufbuild/protobuf";
import { v7 as uuidv7 } from "uuid";
import type { KemRecord } from "../../common/kem-record.ts";
import type { EventLog, EventSubscription, SwmEvent, SwmEventKind } from "../ports.ts";
import type { RedisConnection } from "../redis/connection.ts";

/** Options of {@link createRedisEventLog}. */
export interface RedisEventLogOptions {
  /** Connection for history reads (a dedicated one is opened for the blocking loop). */
  redis: RedisConnection;
  /** Key prefix, as given to the working set. @default "" */
  prefix?: string;
  /** Reads cached KEMs by id (the working set's `load`), to attach payloads. */
  load: (ids: string[]) => Promise<Map<string, KemRecord>>;
  /** Longest block of one XREAD in ms (also the reset-check interval). @default 1000 */
  blockMs?: number;
  /** Called when the log was found reset (Redis restarted or flushed). */
  onReset?: () => void;
  /** Logger. */
  log?: { warn(obj: object, msg: string): void };
}

type Entry = [string, string[]];

interface Sub {
  onEvent: (e: SwmEvent) => void;
  onReset?: () => void;
  /** Live events held while the history is replayed. */
  buffer: SwmEvent[] | null;
  /** Highest sequence already delivered by the replay (live events at or below it are skipped). */
  delivered: number;
}

function parseEntry([id, fields]: Entry): SwmEvent & { updatedAtUs: number } {
  const f: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i]!] = fields[i + 1]!;
  return {
    sequence: Number(id.split("-")[0]),
    kind: f.k as SwmEventKind,
    kemId: f.id ?? "",
    metadata: JSON.parse(f.m || "{}") as JsonObject,
    agentId: f.a ?? "",
    timeMs: Number(f.t ?? 0),
    details: f.d ?? "",
    updatedAtUs: Number(f.u ?? 0),
  };
}

function entriesOf(reply: unknown, key: string): Entry[] {
  if (!reply) return [];
  if (Array.isArray(reply)) {
    const hit = (reply as [string, Entry[]][]).find(([k]) => k === key);
    return hit ? hit[1] : [];
  }
  return ((reply as Record<string, Entry[]>)[key] ?? []) as Entry[];
}

/**
 * Creates the Redis event log and starts its reader loop.
 * @param options - connection, prefix, payload loader.
 * @throws BackendUnavailableError when Redis cannot be reached.
 */
export async function createRedisEventLog(options: RedisEventLogOptions): Promise<EventLog> {
  const { redis, load } = options;
  const P = options.prefix ?? "";
  const stream = `${P}swm_events`;
  const seqKey = `${P}swm_events:seq`;
  const blockMs = String(options.blockMs ?? 1000);
  const subs = new Set<Sub>();
  const reader = await redis.duplicate();
  let running = true;
  await redis.cmd(["SET", `${P}swm_events:epoch`, uuidv7(), "NX"]);
  const epoch = String(await redis.cmd(["GET", `${P}swm_events:epoch`]));
  let last = Number((await redis.cmd<string | null>(["GET", seqKey])) ?? 0);

  async function withPayloads(entries: Entry[]): Promise<SwmEvent[]> {
    const events = entries.map(parseEntry);
    const want = events.filter((e) => e.kind === "published" || e.kind === "updated").map((e) => e.kemId);
    const cached = want.length > 0 ? await load(want) : new Map<string, KemRecord>();
    return events.map(({ updatedAtUs, ...e }) => {
      const rec = cached.get(e.kemId);
      return rec && rec.updatedAtUs === updatedAtUs ? { ...e, kem: rec } : e;
    });
  }

  function deliver(e: SwmEvent): void {
    for (const s of subs) {
      if (s.buffer) s.buffer.push(e);
      else if (e.sequence > s.delivered) s.onEvent(e);
    }
  }

  const baseKey = `${P}swm_events:base`;
  let base = await redis.cmd<string | null>(["GET", baseKey]);
  /** The log was lost (Redis restarted empty or flushed): subscribers must reload. */
  const reset = (why: string) => {
    options.log?.warn({ why }, "SWM event log was reset; subscribers must reload");
    for (const s of subs) s.onReset?.();
    options.onReset?.();
  };

  // Reading and delivering overlap: as soon as an XREAD returns, the next one is sent (with the
  // reset check, GET base, pipelined behind it on the reader's own connection, so neither waits
  // behind RPC traffic on the shared connection), while the batch just read gets its payloads and
  // is delivered, in order, by a chain of at most MAX_PENDING batches. An event therefore waits
  // about one read and one payload round trip, not a whole read-check-load cycle.
  const MAX_PENDING = 2;
  let readFrom = last; // highest sequence read (delivery, `last`, may trail it)
  // While nobody subscribes the reader reads no entries (it read and decoded every event for
  // nobody, on the same process and Redis as the writes); it only checks for a reset every `blockMs`.
  // A subscribe that finds it idle reads the log's position first and hands it over as `startFrom`,
  // so the reader resumes exactly after the last event published before that subscription.
  let idle = false;
  let stale = false; // the idle reader waited: its position is out of date
  let startFrom: number | undefined;
  let wakeIdle: (() => void) | undefined;
  let chain: Promise<void> = Promise.resolve();
  let pending = 0;
  let failed: unknown = null; // a delivery step failed: later steps skip, reading rewinds to `last`
  const deliverBatch = (entries: Entry[]) => {
    pending++;
    chain = chain
      .then(async () => {
        if (failed) return;
        if (subs.size === 0) {
          // Nobody listens: only the position moves (entries come in sequence order).
          last = Math.max(last, Number(entries[entries.length - 1]![0].split("-")[0]));
          return;
        }
        for (const e of await withPayloads(entries)) {
          if (e.sequence <= last) continue;
          last = e.sequence;
          if (subs.size > 0) deliver(e);
        }
      })
      .catch((err) => {
        failed ??= err;
      })
      .finally(() => pending--);
  };
  const settle = async () => {
    await chain;
    if (failed) {
      const err = failed;
      failed = null;
      readFrom = last;
      throw err;
    }
  };

  /**
   * One step of the idle reader: waits up to `blockMs` (or until a subscribe wakes it) and checks
   * for a reset; once someone subscribes it leaves idle — where it stopped if it never waited,
   * else at the position the subscribe handed over.
   * @returns whether the reader is still idle.
   */
  const idleStep = async (): Promise<boolean> => {
    if (!idle) {
      await chain; // batches read before going idle are delivered (or dropped) first
      idle = true;
      stale = false;
    }
    if (subs.size === 0) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Number(blockMs));
        wakeIdle = () => {
          clearTimeout(t);
          resolve();
        };
      });
      wakeIdle = undefined;
      stale = true; // events may have been published meanwhile: `readFrom` no longer says where to go on
      const nowBase = await reader.cmd<string | null>(["GET", baseKey]);
      if (base !== null && nowBase !== base) reset("the event log was recreated (Redis restarted empty or flushed)");
      base = nowBase;
    }
    if (subs.size === 0 || !running) return true;
    if (stale) {
      // Not expected (every subscribe that saw the reader idle hands a position over); still safe.
      startFrom ??= Number((await reader.cmd<string | null>(["GET", seqKey])) ?? 0);
      readFrom = last = startFrom;
    }
    idle = false;
    startFrom = undefined;
    return false;
  };

  const loop = (async () => {
    while (running) {
      try {
        if (pending >= MAX_PENDING || failed) await settle();
        if (subs.size === 0 || idle) {
          if (await idleStep()) continue;
        }
        const [reply, nowBase] = await Promise.all([
          reader.cmd([
            "XREAD",
            "BLOCK",
            blockMs,
            "COUNT",
            "500",
            "STREAMS",
            stream,
            readFrom > 0 ? `${readFrom}-0` : "0-0",
          ]),
          reader.cmd<string | null>(["GET", baseKey]),
        ]);
        const entries = entriesOf(reply, stream);
        if (base !== null && nowBase !== base) {
          // A new log (its sequences start at its creation time): read it from its start.
          await chain;
          failed = null;
          base = nowBase;
          last = 0;
          readFrom = 0;
          for (const sub of subs) sub.delivered = 0;
          reset("the event log was recreated (Redis restarted empty or flushed)");
          continue;
        }
        base = nowBase;
        if (entries.length === 0) continue;
        const first = Number(entries[0]![0].split("-")[0]);
        if (readFrom > 0 && first > readFrom + 1) {
          // The stream was trimmed past events this reader had not read yet: subscribers missed them.
          await chain;
          reset(`the reader fell behind the event history (events ${readFrom + 1}..${first - 1} are gone)`);
        }
        readFrom = Number(entries[entries.length - 1]![0].split("-")[0]);
        deliverBatch(entries);
      } catch (err) {
        if (!running) break;
        options.log?.warn({ err }, "SWM event reader failed; retrying");
        await new Promise((r) => setTimeout(r, 250));
      }
    }
    await chain;
  })();

  return {
    epoch,
    async subscribe(afterSequence, onEvent, onReset): Promise<EventSubscription> {
      const sub: Sub = { onEvent, onReset, buffer: afterSequence === undefined ? null : [], delivered: 0 };
      if (idle) {
        // The idle reader has no position: it starts after the newest event published so far.
        const position = Number((await redis.cmd<string | null>(["GET", seqKey])) ?? 0);
        if (idle) startFrom = Math.min(startFrom ?? position, position);
      }
      subs.add(sub);
      wakeIdle?.();
      const close = () => void subs.delete(sub);
      if (afterSequence === undefined) return { reloadRequired: false, close };
      let reloadRequired = false;
      let upTo = afterSequence;
      try {
        const newest = Number((await redis.cmd<string | null>(["GET", seqKey])) ?? 0);
        const base = Number((await redis.cmd<string | null>(["GET", `${P}swm_events:base`])) ?? 0);
        const first = entriesOf(
          { [stream]: await redis.cmd<Entry[]>(["XRANGE", stream, "-", "+", "COUNT", "1"]) },
          stream,
        )[0];
        const firstSeq = first ? Number(first[0].split("-")[0]) : newest + 1;
        // 0 means "from the start of the log": fine while nothing was trimmed yet.
        if (afterSequence === 0 && firstSeq <= base + 1) upTo = base;
        if (afterSequence > newest || upTo + 1 < firstSeq) {
          reloadRequired = true;
        } else {
          for (;;) {
            const batch = await redis.cmd<Entry[]>(["XRANGE", stream, `${upTo + 1}-0`, "+", "COUNT", "1000"]);
            for (const e of await withPayloads(batch)) {
              sub.onEvent(e);
              upTo = e.sequence;
            }
            if (batch.length < 1000) break;
          }
        }
      } catch (err) {
        close();
        throw err;
      }
      const pending = sub.buffer ?? [];
      sub.buffer = null;
      // The reader may hold events it read before this subscription and delivers them later.
      sub.delivered = reloadRequired ? 0 : upTo;
      for (const e of pending) if (e.sequence > sub.delivered) onEvent(e);
      return { reloadRequired, close };
    },
    async lastSequence() {
      return Number((await redis.cmd<string | null>(["GET", seqKey])) ?? 0);
    },
    async close() {
      running = false;
      subs.clear();
      wakeIdle?.();
      await reader.close(true);
      await loop.catch(() => {});
    },
  };
}
