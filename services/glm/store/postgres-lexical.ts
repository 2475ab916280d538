/**
 * Lexical search of the PostgreSQL KEM store (docs/postgres.md "Lexical index"): each text-like
 * KEM's text (the text the SQLite store gives FTS5, `../lexical/lexical-text.ts`) is indexed as an
 * `english` `tsvector` in `kems.lexical`, written with the row; a query is the OR of its words as
 * a `tsquery`, ranked by `ts_rank_cd` (cover density, not BM25: scores are not comparable with
 * SQLite's, the hit order and paging semantics are the same).
 * @module
 */
import type postgres from "postgres";
import { lexicalBodyOf, MAX_QUERY_TERMS, queryWords, STOPWORDS } from "../lexical/lexical-text.ts";
import type { LexicalHit, LexicalSearchOptions } from "../ports.ts";
import { conditionsOf, Params } from "./postgres-filter-plan.ts";

/**
 * Most characters of a KEM's text given to `to_tsvector`; the text after it is not searchable
 * lexically (docs/postgres.md "Lexical index"). A `tsvector` holds under 1 MiB of lexemes and
 * positions, about 8 bytes per distinct one-character word (e.g. CJK ideographs between spaces),
 * so 131,072 characters (at most 65,536 such words) always fit.
 */
export const MAX_LEXICAL_CHARS = 131_072;

/** The text indexed lexically, or null for content that is not text-like. */
export function lexicalText(contentType: string, content: Uint8Array): string | null {
  const body = lexicalBodyOf(contentType, content);
  if (body === undefined) return null;
  // PostgreSQL text cannot hold U+0000.
  return body.slice(0, MAX_LEXICAL_CHARS).replaceAll("\u0000", " ");
}

/**
 * A free-text query as a `to_tsquery` expression: the distinct non-stopword words (all words when
 * every one is a stopword), at most `MAX_QUERY_TERMS`, OR-ed — the words of the SQLite store's
 * FTS5 query (lexical-text.ts). Words are letters and digits only, so no tsquery operator survives.
 */
export function toTsQuery(text: string): string | undefined {
  const words = [...new Set(queryWords(text))];
  if (words.length === 0) return undefined;
  const content = words.filter((w) => !STOPWORDS.has(w));
  return (content.length > 0 ? content : words)
    .slice(0, MAX_QUERY_TERMS)
    .map((w) => `'${w}'`)
    .join(" | ");
}

/** Lexical search on the store: best first (score desc, id asc), at most `k`. */
export type PostgresLexicalSearchFn = (
  query: string,
  k: number,
  options?: LexicalSearchOptions,
) => Promise<LexicalHit[]>;

/**
 * Lexical search over `kems.lexical` on `sql`.
 * @param sql - the store's pool (its schema is `postgres-schema.ts`).
 * @returns the search; the filter is applied exactly in the same query, `after` pages by
 *   (score, id). A query without words, or `k <= 0`, finds nothing. Driver errors propagate.
 */
export function createPostgresLexicalSearch(sql: postgres.Sql): PostgresLexicalSearchFn {
  return async (query, k, opts = {}) => {
    const tsq = toTsQuery(query);
    if (tsq === undefined || k <= 0) return [];
    const p = new Params();
    const q = p.add(tsq, "text");
    const conds = ["k.lexical @@ q.q", ...conditionsOf(opts.filter ?? {}, p)];
    const cursor = opts.after
      ? `WHERE h.s < ${p.add(opts.after.score, "float8")} OR (h.s = $${p.values.length}::text::float8 AND h.id > ${p.add(opts.after.id, "text")})`
      : "";
    // Ranking: ts_rank_cd (cover density) with length normalization 1 (divide by 1 + log(length)); docs/postgres.md.
    const rows = await sql.unsafe<{ id: string; s: number }[]>(
      `SELECT h.id, h.s FROM (SELECT k.id, ts_rank_cd(k.lexical, q.q, 1)::float8 AS s FROM kems k, to_tsquery('english', ${q}) AS q(q) WHERE ${conds.join(" AND ")}) h
       ${cursor} ORDER BY h.s DESC, h.id ASC LIMIT ${p.add(k, "int8")}`,
      p.values,
      { prepare: true },
    );
    return rows.map((r): LexicalHit => ({ id: r.id, score: r.s }));
  };
}
