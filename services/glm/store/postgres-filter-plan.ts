/**
 * SQL for {@link KemFilter}s on the PostgreSQL store (docs/postgres.md "Filters"). The semantics
 * are those of the SQLite store (docs/search.md "Indexed filters"): every criterion must hold;
 * metadata equality is JSON equality of the same type (`1` matches `1.0`, never `"1"` or `true`),
 * which is exactly `jsonb` containment of a top-level scalar (`metadata @> '{"k": v}'`).
 *
 * - With metadata equalities (and no id list), the page walks `kem_meta` — the entries of the
 *   least frequent `(key, value)` pair, already in `updated_at DESC, id DESC` order — and checks
 *   every criterion on the joined row (`@>` rechecks the pair itself, so a hash collision never
 *   leaks a KEM). When every pair is frequent (at least {@link PG_ESTIMATE_CAP} entries) and a
 *   date range is set, PostgreSQL's own planner chooses instead.
 * - Otherwise (ids, date ranges, nothing) one query on `kems` lets PostgreSQL pick the primary
 *   key, `kems_created_at` or the ordered walk of `kems_updated_at`.
 * @module
 */
import type { KemFilter, UpdatedCursor } from "../../common/kem-record.ts";
import { microsToIso } from "../../common/time.ts";
import { metadataTagToken } from "./metadata-index.ts";

/** Index entries counted at most when estimating a criterion's matches (as SQLite's `ESTIMATE_CAP`). */
export const PG_ESTIMATE_CAP = 20_000;

/** Microseconds since epoch of a `timestamptz` column, exactly (PostgreSQL ≥ 14 extracts a numeric). */
export function microsOf(col: string): string {
  return `(extract(epoch from ${col}) * 1000000)::int8`;
}

/** Columns of a KEM row selected from alias `k`. */
export const ROW_COLUMNS = `k.id, k.content_type, k.content, k.metadata, ${microsOf("k.created_at")} AS created_us, ${microsOf("k.updated_at")} AS updated_us, k.embedding`;

/** Positional parameters of one statement, all sent as text and cast in SQL. */
export class Params {
  readonly values: string[] = [];
  /**
   * Adds a value; returns its placeholder with a cast from text, e.g. `$3::text::timestamptz`.
   * Typing the parameter as text keeps the driver from converting it (the `postgres` driver would
   * turn a timestamptz parameter into a JS Date, dropping microseconds).
   */
  add(value: string | number | bigint, cast: string): string {
    this.values.push(String(value));
    return cast === "text" ? `$${this.values.length}::text` : `$${this.values.length}::text::${cast}`;
  }
}

/**
 * The `kem_meta` key of a metadata pair: the 64-bit hash of the typed pair (the lexical tag token
 * of metadata-index.ts), as a signed `bigint`.
 */
export function metaHash(key: string, value: string | number | boolean): bigint {
  return BigInt.asIntN(64, BigInt(metadataTagToken(key, value).slice(1)));
}

/** The `kem_meta` hashes of a metadata object's top-level scalars (deduplicated). */
export function metaHashesOf(metadata: { [key: string]: unknown }): bigint[] {
  const out = new Set<bigint>();
  for (const key in metadata) {
    const v = metadata[key];
    if (typeof v === "string" || typeof v === "boolean" || (typeof v === "number" && Number.isFinite(v)))
      out.add(metaHash(key, v));
  }
  return [...out];
}

/** `col = ANY(…)` over a JSON array of strings sent as one parameter. */
export function inList(col: string, values: string[], p: Params): string {
  return `${col} = ANY(ARRAY(SELECT jsonb_array_elements_text(${p.add(JSON.stringify(values), "text")}::jsonb)))`;
}

/** Conditions on row `k` for every criterion of `filter` (empty when it has none). */
export function conditionsOf(filter: KemFilter, p: Params): string[] {
  const out: string[] = [];
  if (filter.ids && filter.ids.length > 0) out.push(inList("k.id", filter.ids, p));
  if (filter.metadata && Object.keys(filter.metadata).length > 0)
    out.push(`k.metadata @> ${p.add(JSON.stringify(filter.metadata), "text")}::jsonb`);
  if (filter.updatedFromUs !== undefined)
    out.push(`k.updated_at >= ${p.add(microsToIso(filter.updatedFromUs), "timestamptz")}`);
  if (filter.updatedToUs !== undefined)
    out.push(`k.updated_at <= ${p.add(microsToIso(filter.updatedToUs), "timestamptz")}`);
  if (filter.createdFromUs !== undefined)
    out.push(`k.created_at >= ${p.add(microsToIso(filter.createdFromUs), "timestamptz")}`);
  if (filter.createdToUs !== undefined)
    out.push(`k.created_at <= ${p.add(microsToIso(filter.createdToUs), "timestamptz")}`);
  return out;
}

function where(conds: string[]): string {
  return conds.length === 0 ? "" : `WHERE ${conds.join(" AND ")}`;
}

/** Counts (up to a cap) that choose the driver; implemented by the store with its connection. */
export type MetaCounter = (hash: bigint, cap: number) => Promise<number>;

/**
 * The `kem_meta` pair to drive a metadata-filtered query, or undefined to let PostgreSQL plan.
 * @returns the hash of the least frequent pair and its count (capped at {@link PG_ESTIMATE_CAP}).
 */
export async function chooseMetaDriver(
  filter: KemFilter,
  count: MetaCounter,
): Promise<{ hash: bigint; estimate: number } | undefined> {
  if (filter.ids && filter.ids.length > 0) return undefined;
  const pairs = Object.entries(filter.metadata ?? {});
  if (pairs.length === 0) return undefined;
  const ranged =
    filter.createdFromUs !== undefined ||
    filter.createdToUs !== undefined ||
    filter.updatedFromUs !== undefined ||
    filter.updatedToUs !== undefined;
  if (pairs.length === 1 && !ranged) return { hash: metaHash(pairs[0]![0], pairs[0]![1]), estimate: PG_ESTIMATE_CAP };
  let best: { hash: bigint; estimate: number } | undefined;
  for (const [key, value] of pairs) {
    const hash = metaHash(key, value);
    const n = await count(hash, best?.estimate ?? PG_ESTIMATE_CAP);
    if (!best || n < best.estimate) best = { hash, estimate: n };
    if (n === 0) break;
  }
  if (best && best.estimate >= PG_ESTIMATE_CAP && ranged) return undefined;
  return best;
}

/**
 * The page query of `find`: rows matching `filter` in `updated_at DESC, id DESC` order, strictly
 * after `after`, at most `limit`, driven by `kem_meta` entries `metaDriver` when given.
 */
export function pageQuery(
  filter: KemFilter,
  metaDriver: bigint | undefined,
  after: UpdatedCursor | undefined,
  limit: number,
): { text: string; params: string[] } {
  const p = new Params();
  if (metaDriver !== undefined) {
    const walk = [`m.h = ${p.add(metaDriver, "int8")}`];
    if (filter.updatedFromUs !== undefined)
      walk.push(`m.updated_at >= ${p.add(microsToIso(filter.updatedFromUs), "timestamptz")}`);
    if (filter.updatedToUs !== undefined)
      walk.push(`m.updated_at <= ${p.add(microsToIso(filter.updatedToUs), "timestamptz")}`);
    if (after)
      walk.push(
        `(m.updated_at, m.id) < (${p.add(microsToIso(after.updatedAtUs), "timestamptz")}, ${p.add(after.id, "text")})`,
      );
    const conds = ["k.id = m.id", ...conditionsOf(filter, p)];
    // The walk is fenced (OFFSET 0) and joined LATERAL: PostgreSQL has no estimate for the `@>`
    // recheck and would otherwise trade the ordered walk for a scan of `kems` (measured in
    // docs/postgres.md "Metadata index").
    const text = `SELECT ${ROW_COLUMNS} FROM (SELECT m.updated_at, m.id FROM kem_meta m ${where(walk)} ORDER BY m.updated_at DESC, m.id DESC OFFSET 0) m
      CROSS JOIN LATERAL (SELECT k.* FROM kems k ${where(conds)}) k ORDER BY m.updated_at DESC, m.id DESC LIMIT ${p.add(limit, "int8")}`;
    return { text, params: p.values };
  }
  const conds = conditionsOf(filter, p);
  if (after)
    conds.push(
      `(k.updated_at, k.id) < (${p.add(microsToIso(after.updatedAtUs), "timestamptz")}, ${p.add(after.id, "text")})`,
    );
  const text = `SELECT ${ROW_COLUMNS} FROM kems k ${where(conds)} ORDER BY k.updated_at DESC, k.id DESC LIMIT ${p.add(limit, "int8")}`;
  return { text, params: p.values };
}

/** Ids of the rows matching `filter`, at most `limit`, in no particular order. */
export function idsQuery(
  filter: KemFilter,
  metaDriver: bigint | undefined,
  limit: number,
): { text: string; params: string[] } {
  const p = new Params();
  if (metaDriver !== undefined) {
    const walk = `m.h = ${p.add(metaDriver, "int8")}`;
    const conds = ["k.id = m.id", ...conditionsOf(filter, p)];
    return {
      text: `SELECT k.id FROM (SELECT m.id FROM kem_meta m WHERE ${walk} OFFSET 0) m CROSS JOIN LATERAL (SELECT k.id FROM kems k ${where(conds)}) k LIMIT ${p.add(limit, "int8")}`,
      params: p.values,
    };
  }
  return {
    text: `SELECT k.id FROM kems k ${where(conditionsOf(filter, p))} LIMIT ${p.add(limit, "int8")}`,
    params: p.values,
  };
}
