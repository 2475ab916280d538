/**
 * Redis working set (docs/redis-layout.md): `swm_kem:<id>` hashes, `swm_idx:meta:<key>:<value>`
 * sets for the configured keys, `swm_idx:date:created_at` / `updated_at` sorted sets, written
 * atomically by Lua scripts (see `redis-scripts.ts`), embeddings as raw little-endian float32 bytes.
 *
 * Eviction (docs/decisions/0003-redis-eviction-volatile-lru.md): `allkeys-lru` would also evict the
 * index keys (40–80% stale ids measured). Here only KEM hashes carry a TTL, Redis runs
 * `volatile-lru`, so only KEM hashes are evicted; index,
 * reverse-index, lock, counter, event and queue keys never are. Eviction and expiry notifications
 * (`notify-keyspace-events` with `Exe`) clean the indexes and emit KEM_EVICTED; readers that meet
 * an index entry whose hash is gone skip it and run the same cleanup (repair).
 * @module
 */
import type { JsonObject } from "@bufbuild/protobuf";
import { v7 as uuidv7 } from "uuid";
import { SWM_DEFAULTS } from "../../common/defaults.ts";
import type { KemRecord } from "../../common/kem-record.ts";
import type { PutOptions, PutResult, WorkingSet, WorkingSetStats } from "../ports.ts";
import type { RedisConnection } from "../redis/connection.ts";
import { createRedisReader } from "./redis-query.ts";
import {
  PUT_SCRIPT,
  type PutScriptArgs,
  putScriptArgs,
  REMOVE_SCRIPT,
  removeScriptArgs,
  TOUCH_SCRIPT,
  touchScriptArgs,
} from "./redis-scripts.ts";

/** Most KEMs refreshed by one TOUCH script (about 11 µs of Redis time each, measured; a script blocks Redis). */
const TOUCH_BATCH = 100;

/** Options of {@link createRedisWorkingSet}. */
export interface RedisWorkingSetOptions {
  /** Connection used for commands (a second one is opened for notifications). */
  redis: RedisConnection;
  /** Prefix of every key (isolates several deployments on one Redis). @default "" */
  prefix?: string;
  /** Metadata keys to index (string values). @default [] */
  indexedKeys?: readonly string[];
  /** TTL of cached KEMs after their last write, in ms (makes them evictable). @default 2592000000 (30 days) */
  kemTtlMs?: number;
  /** Events kept in the event stream (approximate, `XADD MAXLEN ~`). @default 10000 */
  eventHistory?: number;
  /**
   * Set `notify-keyspace-events` (adds `Exe`) and `maxmemory-policy volatile-lru` (and `maxmemory`
   * when given) with CONFIG SET. Failures (managed Redis) are reported to `log.warn`. @default true
   */
  configure?: boolean;
  /** `maxmemory` to set when configuring, e.g. "256mb". @default unchanged */
  maxmemory?: string;
  /** Logger. */
  log?: { warn(obj: object, msg: string): void };
  /**
   * The write-behind stream puts with `persist` queue their KEM on, in the PUT script itself
   * (`createRedisPersistQueue`'s queue): `streamKey` is its full key, `adopt` hands the queue the
   * record of each entry appended. Without it, `persist` is left to the caller.
   */
  queue?: { readonly streamKey: string; adopt(entryId: string, record: KemRecord): void };
}

/** A record as the PUT script takes it (timestamps only where they are kept). */
type PutRecord = Pick<KemRecord, "id" | "contentType" | "content" | "metadata" | "embedding"> & {
  createdAtUs?: number;
  updatedAtUs?: number;
};

/** Bytes of a typed array as a Buffer over the same memory (no copy). */
function bytesOf(a: Uint8Array | Float32Array): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

/** The value of a one-key CONFIG GET reply (RESP2 array or RESP3 map). */
function configValue(reply: unknown): string {
  if (Array.isArray(reply)) return String(reply[1] ?? "");
  return String(Object.values((reply ?? {}) as Record<string, string>)[0] ?? "");
}

function indexedPairs(metadata: JsonObject, keys: readonly string[]): string[] {
  const out: string[] = [];
  for (const k of keys) {
    const v = metadata[k];
    if (typeof v === "string") out.push(k, v);
  }
  return out;
}

/** The Redis working set, with helpers used by tests and the event log. */
export interface RedisWorkingSet extends WorkingSet {
  /** Reads records without other effects (for event payloads); missing ids are absent. */
  load(ids: string[]): Promise<Map<string, KemRecord>>;
  /**
   * Checks every indexed id and repairs the stale ones (start-up sweep, tests).
   * @returns the number of stale ids repaired.
   */
  repairAll(): Promise<number>;
  /** Key prefix in use. */
  readonly prefix: string;
  /** Re-applies the eviction settings (after a Redis restart). */
  configure(): Promise<void>;
}

/**
 * Creates the Redis working set and starts listening for eviction notifications.
 * @param options - connection, prefix, indexed keys, TTL, event history, server configuration.
 * @throws BackendUnavailableError when Redis cannot be reached.
 */
export async function createRedisWorkingSet(options: RedisWorkingSetOptions): Promise<RedisWorkingSet> {
  const { redis } = options;
  const P = options.prefix ?? "";
  const indexedKeys = [...new Set(options.indexedKeys ?? [])];
  const ttl = String(options.kemTtlMs ?? SWM_DEFAULTS.kemTtlMs);
  const maxlen = String(options.eventHistory ?? SWM_DEFAULTS.eventHistory);
  const kemPrefix = `${P}swm_kem:`;
  const updKey = `${P}swm_idx:date:updated_at`;
  const stats = { repairedStaleIds: 0, evictions: 0 };

  /** Applies eviction settings (again after a Redis restart, which forgets CONFIG SET). */
  async function configure(): Promise<void> {
    if (!(options.configure ?? true)) return;
    try {
      const flags = configValue(await redis.cmd(["CONFIG", "GET", "notify-keyspace-events"]));
      const want = [...new Set([...flags, "E", "x", "e"])].join("");
      if (![..."Exe"].every((c) => flags.includes(c)) && !flags.includes("A"))
        await redis.cmd(["CONFIG", "SET", "notify-keyspace-events", want]);
      await redis.cmd(["CONFIG", "SET", "maxmemory-policy", "volatile-lru"]);
      if (options.maxmemory) await redis.cmd(["CONFIG", "SET", "maxmemory", options.maxmemory]);
    } catch (err) {
      options.log?.warn(
        { err },
        "could not configure Redis eviction (CONFIG SET refused); set notify-keyspace-events Exe and maxmemory-policy volatile-lru yourself",
      );
    }
  }
  await configure();

  async function remove(
    mode: "delete" | "evicted" | "expired",
    id: string,
    agent: string,
    details: string,
  ): Promise<number> {
    return Number(
      await redis.script(
        REMOVE_SCRIPT,
        [],
        removeScriptArgs({ prefix: P, mode, id, agentId: agent, details, eventMaxlen: maxlen }),
      ),
    );
  }

  async function repair(id: string): Promise<void> {
    const seq = await remove("evicted", id, "", "stale index entry repaired by a reader");
    if (seq > 0) stats.repairedStaleIds++;
  }

  // Eviction/expiry notifications on a dedicated subscriber connection.
  const info = await redis.cmd<string>(["CLIENT", "INFO"]);
  const db = /\bdb=(\d+)/.exec(String(info))?.[1] ?? "0";
  const sub = await redis.duplicate();
  const onGone = (kind: "evicted" | "expired") => (key: string) => {
    if (!key.startsWith(kemPrefix)) return;
    const id = key.slice(kemPrefix.length);
    remove(kind, id, "", kind === "evicted" ? "evicted by Redis LRU" : "TTL expired").then(
      (seq) => void (seq > 0 && stats.evictions++),
      (err) => options.log?.warn({ err, id }, "index cleanup after eviction failed; readers will repair it"),
    );
  };
  await sub.subscribe(`__keyevent@${db}__:evicted`, onGone("evicted"));
  await sub.subscribe(`__keyevent@${db}__:expired`, onGone("expired"));

  const { fetch, query } = createRedisReader({ redis, prefix: P, indexedKeys, repair });

  /** The PUT script's fields for a record: "put" stamps new timestamps, "load" and "refresh" keep the record's. */
  function putFields(
    mode: PutScriptArgs["mode"],
    rec: PutRecord,
    opts: { agentId: string; details?: string },
    expectedUpdatedUs?: number,
  ): PutScriptArgs {
    const keep = mode !== "put";
    return {
      prefix: P,
      mode,
      id: rec.id,
      contentType: rec.contentType,
      content: bytesOf(rec.content),
      metadataJson: JSON.stringify(rec.metadata),
      embedding: rec.embedding ? bytesOf(rec.embedding) : "",
      ttlMs: ttl,
      agentId: opts.agentId,
      details: opts.details ?? "",
      eventMaxlen: maxlen,
      expectedUpdatedUs: expectedUpdatedUs === undefined ? "" : String(expectedUpdatedUs),
      createdUs: keep ? String(rec.createdAtUs ?? 0) : "",
      updatedUs: keep ? String(rec.updatedAtUs ?? 0) : "",
      queueKey: "",
      idempotencyKey: "",
      indexedPairs: indexedPairs(rec.metadata, indexedKeys),
    };
  }

  const ws: RedisWorkingSet = {
    prefix: P,
    configure,
    indexedKeys,
    async put(items, opts: PutOptions) {
      const mode = opts.keepTimestamps === true ? "load" : "put";
      const queue = opts.persist === true && mode === "put" ? options.queue : undefined;
      return Promise.all(
        items.map(async (item): Promise<PutResult> => {
          const fields = putFields(mode, item, opts);
          if (queue) {
            fields.queueKey = queue.streamKey;
            fields.idempotencyKey = uuidv7();
          }
          const [existed, seq, created, updated, entry] = await redis.script<[number, number, number, number, string]>(
            PUT_SCRIPT,
            [],
            putScriptArgs(fields),
          );
          const { id, contentType, content, embedding } = item;
          const record: KemRecord = {
            id,
            contentType,
            content,
            metadata: item.metadata,
            embedding,
            createdAtUs: created,
            updatedAtUs: updated,
          };
          if (queue) queue.adopt(String(entry), record);
          return { record, existed: existed === 1, sequence: seq, queued: queue !== undefined };
        }),
      );
    },
    async refresh(items, opts) {
      // Timestamps-only refreshes go in TOUCH scripts of up to TOUCH_BATCH KEMs (bounding how long
      // one script holds Redis); the others in one PUT script each, all issued together.
      const out: Promise<boolean>[] = new Array(items.length);
      const touches: number[] = [];
      items.forEach((it, i) => {
        if (it.timestampsOnly) touches.push(i);
        else {
          const fields = putFields("refresh", it.record, opts, it.expectedUpdatedAtUs);
          out[i] = redis.script<number[]>(PUT_SCRIPT, [], putScriptArgs(fields)).then(([r]) => r !== -1);
        }
      });
      for (let from = 0; from < touches.length; from += TOUCH_BATCH) {
        const at = touches.slice(from, from + TOUCH_BATCH);
        const args = touchScriptArgs({
          prefix: P,
          ttlMs: ttl,
          agentId: opts.agentId,
          details: opts.details ?? "",
          eventMaxlen: maxlen,
          items: at.map((i) => {
            const { record, expectedUpdatedAtUs } = items[i]!;
            return {
              id: record.id,
              expectedUpdatedUs: expectedUpdatedAtUs,
              createdUs: record.createdAtUs,
              updatedUs: record.updatedAtUs,
            };
          }),
        });
        const done = redis.script<number[]>(TOUCH_SCRIPT, [], args);
        at.forEach((i, j) => {
          out[i] = done.then((r) => Number(r[j]) === 1);
        });
      }
      return Promise.all(out);
    },
    async get(ids) {
      return (await fetch(ids)).filter((r): r is KemRecord => r !== null);
    },
    async load(ids) {
      const recs = await fetch([...new Set(ids)]);
      return new Map(recs.filter((r): r is KemRecord => r !== null).map((r) => [r.id, r]));
    },
    async delete(id, opts) {
      return (await remove("delete", id, opts.agentId, opts.details ?? "")) > 0;
    },
    query,
    async stats(): Promise<WorkingSetStats> {
      const kems = Number(await redis.cmd(["ZCARD", updKey]));
      return { kems, ...stats };
    },
    async repairAll() {
      let repaired = 0;
      for (let offset = 0; ; offset += 1000) {
        const ids = await redis.cmd<string[]>(["ZRANGE", updKey, String(offset), String(offset + 999)]);
        const exists = await Promise.all(ids.map((id) => redis.cmd<number>(["EXISTS", kemPrefix + id])));
        const stale = ids.filter((_, i) => Number(exists[i]) === 0);
        for (const id of stale)
          if ((await remove("evicted", id, "", "stale index entry repaired by sweep")) > 0) repaired++;
        offset -= stale.length;
        if (ids.length < 1000) break;
      }
      // Metadata sets may also hold ids missing from the date index (interrupted cleanups).
      let cursor = "0";
      do {
        const [next, keys] = await redis.cmd<[string, string[]]>([
          "SCAN",
          cursor,
          "MATCH",
          `${P}swm_idx:meta:*`,
          "COUNT",
          "500",
        ]);
        cursor = next;
        for (const key of keys) {
          for (const id of await redis.cmd<string[]>(["SMEMBERS", key])) {
            if (Number(await redis.cmd(["EXISTS", kemPrefix + id])) === 0) {
              await remove("evicted", id, "", "stale index entry repaired by sweep"); // every index, not just this set
              await redis.cmd(["SREM", key, id]); // in case its reverse index was already gone
              repaired++;
            }
          }
        }
      } while (cursor !== "0");
      stats.repairedStaleIds += repaired;
      return repaired;
    },
    async close() {
      await sub.close();
    },
  };
  return ws;
}
