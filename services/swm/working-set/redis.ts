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
import type { PutOptions, PutResult, WorkingSet, WorkingSetQuery, WorkingSetStats } from "../ports.ts";
import type { RedisConnection } from "../redis/connection.ts";
import { isAfter, matchesRest, newestFirst, planQuery, type QueryPlan } from "./query-plan.ts";
import { PUT_SCRIPT, type PutScriptArgs, putScriptArgs, REMOVE_SCRIPT, removeScriptArgs } from "./redis-scripts.ts";

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
}

const SCAN_BATCH = 200;
const FETCH_BATCH = 100;

function toRecord(h: Record<string, Buffer> | null | undefined): KemRecord | null {
  if (!h?.id || !h.updated_at_us) return null;
  const emb = h.embeddings;
  return {
    id: h.id.toString(),
    contentType: h.content_type?.toString() ?? "text/plain",
    content: new Uint8Array(h.content ?? new Uint8Array()),
    metadata: JSON.parse(h.metadata?.toString() ?? "{}") as JsonObject,
    embedding:
      emb && emb.byteLength > 0
        ? new Float32Array(emb.buffer.slice(emb.byteOffset, emb.byteOffset + emb.byteLength))
        : null,
    createdAtUs: Number(h.created_at_us!.toString()),
    updatedAtUs: Number(h.updated_at_us.toString()),
  };
}

/** The value of a one-key CONFIG GET reply (RESP2 array or RESP3 map). */
/** A record as the PUT script takes it (timestamps only where they are kept). */
type PutRecord = Pick<KemRecord, "id" | "contentType" | "content" | "metadata" | "embedding"> & {
  createdAtUs?: number;
  updatedAtUs?: number;
};

/** Bytes of a typed array as a Buffer over the same memory (no copy). */
function bytesOf(a: Uint8Array | Float32Array): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

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

  async function fetch(ids: string[]): Promise<(KemRecord | null)[]> {
    return Promise.all(
      ids.map(async (id) => toRecord(await redis.bin<Record<string, Buffer>>(["HGETALL", kemPrefix + id]))),
    );
  }

  /** Reads only metadata and timestamps (to filter before fetching whole KEMs). */
  async function fetchHeads(ids: string[]): Promise<(KemRecord | null)[]> {
    return Promise.all(
      ids.map(async (id) => {
        const [md, c, u] = await redis.cmd<(string | null)[]>([
          "HMGET",
          kemPrefix + id,
          "metadata",
          "created_at_us",
          "updated_at_us",
        ]);
        if (md === null || md === undefined || !u) return null;
        return {
          id,
          contentType: "",
          content: new Uint8Array(),
          metadata: JSON.parse(md) as JsonObject,
          embedding: null,
          createdAtUs: Number(c),
          updatedAtUs: Number(u),
        };
      }),
    );
  }

  /**
   * Fetches candidates in order, skipping (and repairing) stale ids, until `limit` match. With
   * non-indexed or created_at filters, metadata and timestamps are read first and whole KEMs only
   * for the matches.
   */
  async function collect(ordered: string[], plan: QueryPlan, q: WorkingSetQuery, out: KemRecord[]): Promise<void> {
    const twoPhase = plan.rest.length > 0 || q.filter.createdFromUs !== undefined || q.filter.createdToUs !== undefined;
    for (let i = 0; i < ordered.length && out.length < q.limit; ) {
      // Without per-record filters every live record matches: fetch just what the page still needs.
      const step = twoPhase ? 500 : Math.min(FETCH_BATCH, q.limit - out.length);
      let ids = ordered.slice(i, i + step);
      i += step;
      if (twoPhase) {
        const heads = await fetchHeads(ids);
        heads.forEach((h, j) => void (h === null && repair(ids[j]!).catch(() => {})));
        ids = heads
          .filter((h): h is KemRecord => h !== null && isAfter(h, q.after) && matchesRest(h, plan, q.filter))
          .map((h) => h.id);
      }
      const recs = await fetch(ids);
      recs.forEach((r, j) => {
        if (!r) void repair(ids[j]!).catch(() => {});
        else if (out.length < q.limit && isAfter(r, q.after) && matchesRest(r, plan, q.filter)) out.push(r);
      });
    }
  }

  /**
   * The PUT script's fields for a record: "put" stamps new timestamps, "load" and "refresh" keep
   * the record's, "touch" sends only the timestamps.
   */
  function putFields(
    mode: PutScriptArgs["mode"],
    rec: PutRecord,
    opts: { agentId: string; details?: string },
    expectedUpdatedUs?: number,
  ): PutScriptArgs {
    const touch = mode === "touch";
    const keep = mode !== "put";
    return {
      prefix: P,
      mode,
      id: rec.id,
      contentType: touch ? "" : rec.contentType,
      content: touch ? "" : bytesOf(rec.content),
      metadataJson: touch ? "" : JSON.stringify(rec.metadata),
      embedding: touch || !rec.embedding ? "" : bytesOf(rec.embedding),
      ttlMs: ttl,
      agentId: opts.agentId,
      details: opts.details ?? "",
      eventMaxlen: maxlen,
      expectedUpdatedUs: expectedUpdatedUs === undefined ? "" : String(expectedUpdatedUs),
      createdUs: keep ? String(rec.createdAtUs ?? 0) : "",
      updatedUs: keep ? String(rec.updatedAtUs ?? 0) : "",
      indexedPairs: touch ? [] : indexedPairs(rec.metadata, indexedKeys),
    };
  }

  const ws: RedisWorkingSet = {
    prefix: P,
    configure,
    indexedKeys,
    async put(items, opts: PutOptions) {
      const mode = opts.keepTimestamps === true ? "load" : "put";
      return Promise.all(
        items.map(async (item): Promise<PutResult> => {
          const [existed, seq, created, updated] = await redis.script<number[]>(
            PUT_SCRIPT,
            [],
            putScriptArgs(putFields(mode, item, opts)),
          );
          const { id, contentType, content, embedding } = item;
          return {
            record: {
              id,
              contentType,
              content,
              metadata: item.metadata,
              embedding,
              createdAtUs: created!,
              updatedAtUs: updated!,
            },
            existed: existed === 1,
            sequence: seq!,
          };
        }),
      );
    },
    async refresh(rec, expectedUpdatedAtUs, opts, timestampsOnly) {
      const fields = putFields(timestampsOnly ? "touch" : "refresh", rec, opts, expectedUpdatedAtUs);
      const [r] = await redis.script<number[]>(PUT_SCRIPT, [], putScriptArgs(fields));
      return r !== -1;
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
    async query(q: WorkingSetQuery) {
      const plan = planQuery(q.filter, indexedKeys);
      const out: KemRecord[] = [];
      const metaKeys = plan.indexed.map(([k, v]) => `${P}swm_idx:meta:${k}:${v}`);
      if (q.filter.ids) {
        // Explicit ids (at most 1000): keep those in every index set, order them by their scores.
        let ids = q.filter.ids;
        if (ids.length > 0 && metaKeys.length > 0) {
          const member = await Promise.all(metaKeys.map((k) => redis.cmd<number[]>(["SMISMEMBER", k, ...ids])));
          ids = ids.filter((_, i) => member.every((m) => Number(m[i]) === 1));
        }
        if (ids.length === 0) return out;
        const scores = await redis.cmd<(string | null)[]>(["ZMSCORE", updKey, ...ids]);
        const positioned: { id: string; updatedAtUs: number }[] = [];
        ids.forEach((id, i) => {
          const s = scores[i];
          if (s === null || s === undefined) {
            if (metaKeys.length > 0) void repair(id).catch(() => {}); // in an index set but gone
            return;
          }
          const p = { id, updatedAtUs: Number(s) };
          if (isAfter(p, q.after)) positioned.push(p);
        });
        positioned.sort(newestFirst);
        await collect(
          positioned.map((p) => p.id),
          plan,
          q,
          out,
        );
        return out;
      }
      // Walk the updated_at index newest first inside the date bounds; with indexed filters, walk its
      // intersection with the index sets, computed in Redis (ZINTERSTORE keeps the updated_at scores).
      let source = updKey;
      let tmp: string | undefined;
      // A common indexed value (|set|² > limit·n): walk the date index and test membership, which
      // reaches a page in about limit·n/|set| ids; otherwise intersect in Redis.
      let walkIndexed = false;
      if (metaKeys.length > 0) {
        const cards = await Promise.all(metaKeys.map((k) => redis.cmd<number>(["SCARD", k])));
        const smallest = Math.min(...cards.map(Number));
        if (smallest === 0) return out;
        walkIndexed = smallest * smallest > q.limit * Number(await redis.cmd(["ZCARD", updKey]));
      }
      if (metaKeys.length > 0 && !walkIndexed) {
        tmp = `${P}swm_tmp:${uuidv7()}`;
        await redis.cmd([
          "ZINTERSTORE",
          tmp,
          String(1 + metaKeys.length),
          updKey,
          ...metaKeys,
          "WEIGHTS",
          "1",
          ...metaKeys.map(() => "0"),
        ]);
        await redis.cmd(["PEXPIRE", tmp, "60000"]); // dropped below; the TTL only covers a crash
        source = tmp;
      }
      try {
        const max = q.after
          ? String(q.after.updatedAtUs)
          : q.filter.updatedToUs !== undefined
            ? String(q.filter.updatedToUs)
            : "+inf";
        const min = q.filter.updatedFromUs !== undefined ? String(q.filter.updatedFromUs) : "-inf";
        const batchSize = plan.rest.length > 0 || walkIndexed ? 500 : Math.max(SCAN_BATCH, q.limit + 1);
        for (let offset = 0; out.length < q.limit; offset += batchSize) {
          const batch = await redis.cmd<string[]>([
            "ZRANGE",
            source,
            max,
            min,
            "BYSCORE",
            "REV",
            "LIMIT",
            String(offset),
            String(batchSize),
          ]);
          let ids = batch;
          if (walkIndexed && batch.length > 0) {
            const member = await Promise.all(metaKeys.map((k) => redis.cmd<number[]>(["SMISMEMBER", k, ...batch])));
            ids = batch.filter((_, i) => member.every((m) => Number(m[i]) === 1));
          }
          await collect(ids, plan, q, out);
          if (batch.length < batchSize) break;
        }
      } finally {
        if (tmp) await redis.cmd(["DEL", tmp]).catch(() => {});
      }
      return out;
    },
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
