/**
 * The reads of the PostgreSQL KEM store: records by id, filtered pages and id lists planned by
 * `postgres-filter-plan.ts` (docs/postgres.md "Filters"), match estimates from counted index
 * entries, and the scan of every embedding that fills a node's vector index at start.
 * @module
 */
import type postgres from "postgres";
import type { KemFilter, KemRecord } from "../../common/kem-record.ts";
import type { KemStore } from "../ports.ts";
import {
  chooseMetaDriver,
  conditionsOf,
  idsQuery,
  inList,
  metaHashesOf,
  Params,
  PG_ESTIMATE_CAP,
  pageQuery,
} from "./postgres-filter-plan.ts";
import { getRows, type Row, rowToRecord } from "./postgres-rows.ts";
import { blobToVector } from "./vector-bytes.ts";

/** The read methods of the store. */
export type PostgresReads = Pick<
  KemStore,
  "getMany" | "find" | "findIds" | "estimateMatches" | "matchingIds" | "forEachEmbedding" | "count"
>;

/** Embedding rows fetched per round trip by `forEachEmbedding`. */
const EMBEDDING_BATCH = 2000;

/** The read methods on the store's pool. */
export function createPostgresReads(sql: postgres.Sql): PostgresReads {
  /** `kem_meta` entries of one metadata pair, counted up to `cap`. */
  async function countMeta(hash: bigint, cap: number): Promise<number> {
    const [r] = await sql.unsafe<{ n: string }[]>(
      "SELECT count(*)::int8 AS n FROM (SELECT 1 FROM kem_meta WHERE h = $1::int8 LIMIT $2::int8) s",
      [hash.toString(), String(cap)],
      { prepare: true },
    );
    return Number(r!.n);
  }

  /** Rows matching `filter`, counted up to `cap`. */
  async function countWhere(filter: KemFilter, cap: number): Promise<number> {
    const p = new Params();
    const conds = conditionsOf(filter, p);
    const [r] = await sql.unsafe<{ n: string }[]>(
      `SELECT count(*)::int8 AS n FROM (SELECT 1 FROM kems k ${conds.length ? `WHERE ${conds.join(" AND ")}` : ""} LIMIT ${p.add(cap, "int8")}) s`,
      p.values,
      { prepare: true },
    );
    return Number(r!.n);
  }

  return {
    async getMany(ids) {
      const rows = await getRows(sql, ids);
      const out: KemRecord[] = [];
      for (const id of ids) {
        const r = rows.get(id);
        if (r) out.push(rowToRecord(r));
      }
      return out;
    },
    async find(filter, limit, after) {
      const driver = await chooseMetaDriver(filter, countMeta);
      const q = pageQuery(filter, driver?.hash, after, limit);
      return (await sql.unsafe<Row[]>(q.text, q.params, { prepare: true })).map(rowToRecord);
    },
    async findIds(filter, limit = Number.MAX_SAFE_INTEGER) {
      const driver = await chooseMetaDriver(filter, countMeta);
      const q = idsQuery(filter, driver?.hash, Math.min(limit, Number.MAX_SAFE_INTEGER));
      return (await sql.unsafe<{ id: string }[]>(q.text, q.params, { prepare: true })).map((r) => r.id);
    },
    async estimateMatches(filter) {
      let best = PG_ESTIMATE_CAP;
      if (filter.ids && filter.ids.length > 0) best = Math.min(best, filter.ids.length);
      for (const [key, value] of Object.entries(filter.metadata ?? {})) {
        if (best === 0) break;
        best = Math.min(best, await countMeta(metaHashesOf({ [key]: value })[0]!, best));
      }
      const { updatedFromUs, updatedToUs, createdFromUs, createdToUs } = filter;
      if (best > 0 && (updatedFromUs !== undefined || updatedToUs !== undefined))
        best = Math.min(best, await countWhere({ updatedFromUs, updatedToUs }, best));
      if (best > 0 && (createdFromUs !== undefined || createdToUs !== undefined))
        best = Math.min(best, await countWhere({ createdFromUs, createdToUs }, best));
      return best;
    },
    async matchingIds(ids, filter) {
      if (ids.length === 0) return new Set();
      const p = new Params();
      const conds = [inList("k.id", ids, p), ...conditionsOf(filter, p)];
      return new Set(
        (
          await sql.unsafe<{ id: string }[]>(`SELECT k.id FROM kems k WHERE ${conds.join(" AND ")}`, p.values, {
            prepare: true,
          })
        ).map((r) => r.id),
      );
    },
    async forEachEmbedding(fn) {
      await sql<
        { id: string; embedding: Uint8Array }[]
      >`SELECT id, embedding FROM kems WHERE embedding IS NOT NULL`.cursor(EMBEDDING_BATCH, (rows) => {
        for (const r of rows) fn(r.id, blobToVector(r.embedding));
      });
    },
    count: async () => Number((await sql<{ n: string }[]>`SELECT count(*)::int8 AS n FROM kems`)[0]!.n),
  };
}
