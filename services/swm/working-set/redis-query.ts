/**
 * Reads of the Redis working set (docs/redis-layout.md): whole KEM hashes, metadata-and-timestamp
 * heads for filtering first, and query execution — walking the `updated_at` date index newest
 * first (or its intersection with metadata index sets, or a list of explicit ids), collecting
 * matching records page by page. Index entries whose hash is gone are skipped and handed to
 * `repair`.
 * @module
 */
import type { JsonObject } from "@bufbuild/protobuf";
import { v7 as uuidv7 } from "uuid";
import type { KemRecord } from "../../common/kem-record.ts";
import type { WorkingSetQuery } from "../ports.ts";
import type { RedisConnection } from "../redis/connection.ts";
import { isAfter, matchesRest, newestFirst, planQuery, type QueryPlan } from "./query-plan.ts";

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

/** What {@link createRedisReader} reads with. */
export interface RedisReaderOptions {
  /** Connection used for commands. */
  redis: RedisConnection;
  /** Prefix of every key. */
  prefix: string;
  /** Metadata keys with index sets. */
  indexedKeys: readonly string[];
  /** Cleans the indexes of an id whose KEM hash is gone (called without waiting). */
  repair(id: string): Promise<void>;
}

/** Record reads and queries over one Redis working set. */
export interface RedisReader {
  /** Whole records in the order of `ids`; null where the hash is gone. */
  fetch(ids: string[]): Promise<(KemRecord | null)[]>;
  /** Records matching `q`, newest first, at most `q.limit`. */
  query(q: WorkingSetQuery): Promise<KemRecord[]>;
}

/**
 * Creates the reader of a Redis working set.
 * @param options - connection, key prefix, indexed keys and the stale-id repair.
 */
export function createRedisReader(options: RedisReaderOptions): RedisReader {
  const { redis, prefix: P, indexedKeys, repair } = options;
  const kemPrefix = `${P}swm_kem:`;
  const updKey = `${P}swm_idx:date:updated_at`;

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

  async function query(q: WorkingSetQuery): Promise<KemRecord[]> {
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
  }

  return { fetch, query };
}
