/**
 * What GLM's lexical index sees: the text of a text-like KEM as indexed, and a free-text query
 * turned into an FTS5 query expression (docs/search.md "Lexical index").
 *
 * Indexed text is the content itself plus the parts of every camelCase / PascalCase identifier
 * ("createSqliteKemStore" also yields "create sqlite kem store"), so prose words find code; FTS5's
 * `unicode61` tokenizer already splits snake_case and kebab-case. Queries are the non-stopword
 * words of the text, OR-ed (BM25 ranks documents matching more and rarer words first).
 * @module
 */
import { isTextContentType } from "../../common/content-types.ts";

const decoder = new TextDecoder("utf-8", { fatal: false });

/** An identifier with an inner lower→upper or letter→digit boundary, e.g. `parseKemQuery`, `HTTPServer2`. */
const CAMEL_IDENTIFIER = /\b[A-Za-z][a-z0-9]*(?:[A-Z][a-z0-9]*)+\b/g;
/** Boundaries inside a camelCase identifier: "parseKEMQuery" → parse, KEM, Query. */
const CAMEL_PART = /[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+/g;

/** Most words per query kept for the lexical match (the rest are dropped, longest query first kept). */
export const MAX_QUERY_TERMS = 64;

/**
 * English function words left out of lexical queries: they match most documents, add nothing to
 * BM25's ranking, and make FTS5 walk long posting lists (docs/search.md). Documents keep them.
 */
export const STOPWORDS: ReadonlySet<string> = new Set(
  (
    "a about above after again against all am an and any are as at be because been before being below between both but by " +
    "can could did do does doing down during each few for from further had has have having he her here hers herself him " +
    "himself his how i if in into is it its itself just me more most my myself no nor not now of off on once only or other " +
    "our ours ourselves out over own same she should so some such than that the their theirs them themselves then there " +
    "these they this those through to too under until up very was we were what when where which while who whom why will " +
    "with would you your yours yourself yourselves s t d ll m o re ve y don didn doesn isn wasn weren"
  ).split(" "),
);

/**
 * The text GLM indexes for a KEM, or undefined when its content type is not text-like.
 * @param contentType - the KEM's MIME type.
 * @param content - the content bytes (UTF-8 for text; invalid sequences become U+FFFD).
 */
export function lexicalBodyOf(contentType: string, content: Uint8Array): string | undefined {
  if (!isTextContentType(contentType)) return undefined;
  const text = decoder.decode(content);
  const parts = identifierParts(text);
  return parts.length === 0 ? text : `${text}\n${parts.join(" ")}`;
}

/** The words inside camelCase identifiers of `text` (each identifier once). */
function identifierParts(text: string): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const m of text.matchAll(CAMEL_IDENTIFIER)) {
    const ident = m[0];
    if (seen.has(ident)) continue;
    seen.add(ident);
    const parts = ident.match(CAMEL_PART);
    if (parts && parts.length > 1) out.push(parts.join(" "));
  }
  return out;
}

/**
 * Lower-cased words of a query, as FTS5's `unicode61` tokenizer splits them (letters and digits;
 * everything else separates), with camelCase identifiers also split into their parts.
 * @param text - free text.
 */
export function queryWords(text: string): string[] {
  const words: string[] = [];
  for (const m of text.matchAll(/[\p{L}\p{N}]+/gu)) {
    const w = m[0];
    words.push(w.toLowerCase());
    const parts = w.match(CAMEL_PART);
    if (parts && parts.length > 1 && /[a-z]/.test(w) && /[A-Z]/.test(w))
      for (const p of parts) words.push(p.toLowerCase());
  }
  return words;
}

/**
 * Turns free text into an FTS5 query: the distinct non-stopword words as quoted strings joined by
 * OR (all words when every one is a stopword), at most {@link MAX_QUERY_TERMS}.
 * @param text - the user's query.
 * @returns the FTS5 expression, or undefined when the text has no word at all.
 */
export function toMatchExpression(text: string): string | undefined {
  const words = [...new Set(queryWords(text))];
  if (words.length === 0) return undefined;
  const content = words.filter((w) => !STOPWORDS.has(w));
  const terms = (content.length > 0 ? content : words).slice(0, MAX_QUERY_TERMS);
  // Quoting makes every word a plain string token: FTS5 operators and column filters in user
  // text (AND, NEAR, "col:", "*") are never interpreted.
  return terms.map((t) => `"${t}"`).join(" OR ");
}
