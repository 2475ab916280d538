/**
 * Durable write-behind queue on Redis: the stream `swm_persist` with consumer group
 * `swm_persist_workers`, shared by every SWM process on one Redis. Entries are XADDed on publish,
 * read by one worker each (XREADGROUP), removed on ack (XACK + XDEL in one script, so a process
 * killed between the two cannot leave an acknowledged entry in the stream, where no worker would
 * ever read it again and the queue would never look drained). A worker killed with entries
 * in flight leaves them pending; after `claimIdleMs` any worker takes them over (XAUTOCLAIM) and
 * resends them with the same idempotency keys (such recovery reads run on start, after a batch
 * went unacknowledged, and at least every second; a steady-state claim is one XREADGROUP). The
 * stream has no TTL, so `volatile-lru` never evicts it (Redis persistence — AOF — decides
 * durability across a Redis crash). An entry that cannot be read is moved to the stream
 * `swm_persist_dead` (id, key, bytes, error) instead of blocking the queue. Records this process
 * enqueued are kept in memory until acknowledged (up to `LOCAL_RECORDS_MAX`, as the SQLite queue
 * does), so its own claims return them without decoding the entry's bytes.
 * @module
 */
import { v7 as uuidv7 } from "uuid";
import { SWM_DEFAULTS } from "../common/defaults.ts";
import type { KemRecord } from "../common/kem-record.ts";
import type { RedisConnection } from "../swm/redis/connection.ts";
import { decodeRecord, encodeRecord, RecordFormatError } from "./codec.ts";
import type { PersistQueue, QueuedKem } from "./ports.ts";
import { LOCAL_RECORDS_MAX } from "./sqlite-queue.ts";

/** Options of {@link createRedisPersistQueue}. */
export interface RedisPersistQueueOptions {
  /** Connection. */
  redis: RedisConnection;
  /** Key prefix. @default "" */
  prefix?: string;
  /** This worker's consumer name; a restarted process may reuse it to resume its own entries. */
  consumer: string;
  /** Pending entries idle this long (ms) are taken over from other consumers. @default 30000 */
  claimIdleMs?: number;
  /** Logger for entries that cannot be read. */
  log?: { warn(obj: object, msg: string): void };
}

type StreamEntry = [string, Buffer[] | null];

/** An entry that cannot be read: set aside instead of returned. */
interface Unreadable {
  handle: string;
  key: Buffer;
  kem: Buffer;
  error: string;
  newerVersion: boolean;
}

/** Queued entries of a stream read; a record found in `local` (by entry id) is not decoded. */
function toQueued(entries: StreamEntry[], unreadable: Unreadable[], local: Map<string, KemRecord>): QueuedKem[] {
  const out: QueuedKem[] = [];
  for (const [id, fields] of entries) {
    if (!fields) continue; // deleted meanwhile
    const f = new Map<string, Buffer>();
    for (let i = 0; i + 1 < fields.length; i += 2) f.set(fields[i]!.toString(), fields[i + 1]!);
    const handle = id.toString();
    const key = f.get("key");
    const kem = f.get("kem");
    try {
      if (!key || !kem) throw new RecordFormatError("stream entry has no key or kem field");
      out.push({
        handle,
        idempotencyKey: key.toString(),
        record: local.get(handle) ?? decodeRecord(kem),
        enqueuedAtMs: Number(handle.split("-")[0]),
      });
    } catch (err) {
      if (!(err instanceof RecordFormatError)) throw err;
      unreadable.push({
        handle,
        key: key ?? Buffer.alloc(0),
        kem: kem ?? Buffer.alloc(0),
        error: err.message,
        newerVersion: err.newerVersion,
      });
    }
  }
  return out;
}

/**
 * Moves unreadable entries to the dead-letter stream and removes them from the queue, atomically.
 * KEYS[1] the queue, KEYS[2] the dead-letter stream; ARGV[1] the group, then per entry its id,
 * idempotency key, bytes and error.
 */
const SET_ASIDE = `
for i = 2, #ARGV, 4 do
  redis.call('XADD', KEYS[2], '*', 'id', ARGV[i], 'key', ARGV[i + 1], 'kem', ARGV[i + 2], 'error', ARGV[i + 3])
  redis.call('XACK', KEYS[1], ARGV[1], ARGV[i])
  redis.call('XDEL', KEYS[1], ARGV[i])
end
return 0`;

/**
 * Acknowledges and deletes entries atomically. KEYS[1] the stream; ARGV[1] the group, ARGV[2..]
 * the entry ids (in slices of 1000 to stay under Lua's unpack limit). Returns the number deleted.
 */
const ACK_AND_DELETE = `
local n = 0
for i = 2, #ARGV, 1000 do
  local ids = {}
  for j = i, math.min(i + 999, #ARGV) do ids[#ids + 1] = ARGV[j] end
  redis.call('XACK', KEYS[1], ARGV[1], unpack(ids))
  n = n + redis.call('XDEL', KEYS[1], unpack(ids))
end
return n`;

function compareIds(a: string, b: string): number {
  const [am = 0, as = 0] = a.split("-").map(Number);
  const [bm = 0, bs = 0] = b.split("-").map(Number);
  return am - bm || as - bs;
}

/**
 * The Redis queue, with what lets the Redis working set's PUT script queue a KEM in the same
 * atomic step as caching it (`PutOptions.persist`).
 */
export interface RedisPersistQueue extends PersistQueue {
  /** The stream's full key (prefix included). */
  readonly streamKey: string;
  /**
   * Records a KEM another writer (the PUT script) appended to the stream as entry `entryId`, so
   * this process's claims return `record` instead of decoding the entry. The caller does not
   * change the record afterwards.
   */
  adopt(entryId: string, record: KemRecord): void;
}

/**
 * Creates the queue (and its consumer group when missing).
 * @param options - connection, prefix, consumer name, claim timeout.
 */
export async function createRedisPersistQueue(options: RedisPersistQueueOptions): Promise<RedisPersistQueue> {
  const { redis, consumer } = options;
  const key = `${options.prefix ?? ""}swm_persist`;
  const group = "swm_persist_workers";
  const deadKey = `${options.prefix ?? ""}swm_persist_dead`;
  const idle = String(options.claimIdleMs ?? SWM_DEFAULTS.claimIdleMs);
  const recoverEveryMs = Math.min(1000, Math.max(10, (options.claimIdleMs ?? SWM_DEFAULTS.claimIdleMs) / 2));
  let nextRecovery = 0;
  /** Handles claimed by this queue and not acknowledged yet (a failed send leaves some). */
  const outstanding = new Set<string>();
  /**
   * Records this process enqueued and not yet acknowledged, by entry id: the objects given to
   * `enqueue`. Cleared when the stream is empty, so entries another worker took over and
   * acknowledged do not stay here.
   */
  const local = new Map<string, KemRecord>();
  /** Creates the consumer group (reading from the stream's start) unless it exists. */
  const createGroup = async () => {
    try {
      await redis.cmd(["XGROUP", "CREATE", key, group, "0", "MKSTREAM"]);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.includes("BUSYGROUP")) throw err;
    }
  };
  await createGroup();
  const streamOf = (reply: unknown): StreamEntry[] => {
    if (!reply) return [];
    if (Array.isArray(reply)) return ((reply as [unknown, StreamEntry[]][])[0]?.[1] ?? []) as StreamEntry[];
    return (Object.values(reply as Record<string, StreamEntry[]>)[0] ?? []) as StreamEntry[];
  };
  /** One claim: recovery reads when due, then new entries (see `claim`). */
  const claimOnce = async (max: number): Promise<QueuedKem[]> => {
    const seen = new Map<string, QueuedKem>();
    const unreadable: Unreadable[] = [];
    const add = (items: QueuedKem[]) => {
      for (const q of items) if (seen.size < max) seen.set(q.handle, q);
    };
    const now = Date.now();
    // Recovery reads (entries of dead consumers, and this consumer's own unacknowledged ones)
    // cost three round trips: they run on start, after a batch went unacknowledged, and every
    // `recoverEveryMs`; otherwise a claim is one XREADGROUP of new entries.
    const recover = outstanding.size > 0 || now >= nextRecovery;
    if (recover) {
      nextRecovery = now + recoverEveryMs;
      outstanding.clear(); // what is still ours is read back below (the rest by a later recovery)
      const auto = await redis.bin<[Buffer, StreamEntry[], unknown]>([
        "XAUTOCLAIM",
        key,
        group,
        consumer,
        idle,
        "0-0",
        "COUNT",
        String(max),
      ]);
      add(toQueued(auto[1] ?? [], unreadable, local));
      if (seen.size < max)
        add(
          toQueued(
            streamOf(
              await redis.bin(["XREADGROUP", "GROUP", group, consumer, "COUNT", String(max), "STREAMS", key, "0"]),
            ),
            unreadable,
            local,
          ),
        );
      if (seen.size > 0) await redis.cmd(["XCLAIM", key, group, consumer, "0", ...seen.keys(), "JUSTID"]); // reset idle: still ours
    }
    if (seen.size < max)
      add(
        toQueued(
          streamOf(
            await redis.bin([
              "XREADGROUP",
              "GROUP",
              group,
              consumer,
              "COUNT",
              String(max - seen.size),
              "STREAMS",
              key,
              ">",
            ]),
          ),
          unreadable,
          local,
        ),
      );
    for (const h of seen.keys()) outstanding.add(h);
    const dead = unreadable.filter((u) => !u.newerVersion);
    if (dead.length > 0) {
      await redis.script(SET_ASIDE, [key, deadKey], [group, ...dead.flatMap((u) => [u.handle, u.key, u.kem, u.error])]);
      for (const d of dead)
        options.log?.warn({ entry: d.handle, error: d.error }, `unreadable write-behind entry moved to ${deadKey}`);
    }
    // Entries of a newer format stay pending: a newer process takes them over after claimIdleMs.
    if (unreadable.length > dead.length)
      options.log?.warn(
        { entries: unreadable.length - dead.length },
        "write-behind entries of a newer format left for a newer DCSM process",
      );
    return [...seen.values()].sort((a, b) => compareIds(a.handle, b.handle));
  };
  return {
    streamKey: key,
    adopt(entryId, record) {
      // A claim reading the entry before this call decodes it instead.
      if (local.size < LOCAL_RECORDS_MAX) local.set(entryId, record);
    },
    async enqueue(records) {
      await Promise.all(
        records.map(async (r) => {
          const bytes = encodeRecord(r);
          const id = await redis.cmd<string>([
            "XADD",
            key,
            "*",
            "key",
            uuidv7(),
            "kem",
            Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
          ]);
          // A claim reading the entry before this reply arrived decodes it instead.
          if (local.size < LOCAL_RECORDS_MAX) local.set(String(id), r);
        }),
      );
    },
    async claim(max) {
      try {
        return await claimOnce(max);
      } catch (err) {
        // Redis restarted empty (or the key was deleted): the stream holds only entries queued
        // since, all undelivered, and the consumer group is gone. The group is created again from
        // the stream's start and the claim repeated.
        if (!(err instanceof Error) || !err.message.startsWith("NOGROUP")) throw err;
        options.log?.warn({ stream: key }, "write-behind consumer group missing (Redis restarted empty?); recreated");
        outstanding.clear();
        await createGroup();
        return await claimOnce(max);
      }
    },
    async ack(handles) {
      if (handles.length === 0) return;
      await redis.script(ACK_AND_DELETE, [key], [group, ...handles]);
      for (const h of handles) {
        outstanding.delete(h);
        local.delete(h);
      }
    },
    async stats() {
      // Issued together: node-redis pipelines them into one round trip.
      const [len, first] = await Promise.all([
        redis.cmd(["XLEN", key]),
        redis.cmd<[string, string[]][]>(["XRANGE", key, "-", "+", "COUNT", "1"]),
      ]);
      const depth = Number(len);
      if (depth === 0) local.clear();
      const t = first[0] ? Number(first[0][0].split("-")[0]) : 0;
      return { depth, oldestAgeMs: t ? Math.max(0, Date.now() - t) : 0 };
    },
    async close() {},
  };
}
