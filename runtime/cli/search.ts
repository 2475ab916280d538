/**
 * `dcsm search`: search over GLM (`RetrieveKEMs` with `text_query`; hybrid by default, or
 * `--mode vector|lexical`; docs/search.md), printed as score,
 * `source_path:start-end`, symbol and a snippet. `--language` is a GLM metadata filter (equality);
 * `--path-prefix` is applied here over result pages, because GLM filters are equality-only: pages
 * are read best-first until `k` hits match or {@link MAX_SCANNED} results were looked at.
 * @module
 */
import { type SearchModeName, searchModeOf } from "../../sdk/kem-input.ts";
import type { DcsmClients } from "./clients.ts";

/** One search hit. */
export interface SearchHit {
  /** Score in the search mode (fused RRF, cosine or BM25). */
  score: number;
  /** KEM id. */
  id: string;
  /** `source_path` metadata, or "" when the KEM has none. */
  source: string;
  /** First line (1-based), or 0 when unknown. */
  startLine: number;
  /** Last line (1-based), or 0 when unknown. */
  endLine: number;
  /** The KEM's text. */
  text: string;
  /** `symbol` metadata (definition name) or "". */
  symbol: string;
  /** `language` metadata or "". */
  language: string;
}

/** Filters of {@link searchText}. */
export interface SearchFilters {
  /** Only hits whose `source_path` starts with this (e.g. "services/glm/"). */
  pathPrefix?: string;
  /** Only hits of this language (metadata `language`, e.g. "typescript", "markdown"). */
  language?: string;
  /** Ranking: "hybrid" (the server's default), "vector" or "lexical". */
  mode?: SearchModeName;
}

/** Most results read while looking for `--path-prefix` matches. */
export const MAX_SCANNED = 5000;

/**
 * Runs a search.
 * @param clients - DCSM clients.
 * @param query - the question or phrase.
 * @param k - number of hits (1..1000). @default 5
 * @throws ConnectError from GLM (`InvalidArgument` for a blank query, `FailedPrecondition` without a model).
 */
export async function searchText(
  clients: DcsmClients,
  query: string,
  k = 5,
  filters: SearchFilters = {},
): Promise<SearchHit[]> {
  const dec = new TextDecoder();
  const str = (v: unknown) => (typeof v === "string" ? v : "");
  const metadataFilters: Record<string, { kind: { case: "stringValue"; value: string } }> = {};
  if (filters.language) metadataFilters.language = { kind: { case: "stringValue", value: filters.language } };
  const prefix = filters.pathPrefix?.replace(/^\.\//, "");
  // The prefix is checked here, on pages of the ranking. A hybrid ranking holds at most twice its
  // window, which is the page size (docs/search.md "Hybrid"): the largest page keeps the matches
  // of a narrow prefix in it.
  const pageSize = prefix ? 1000 : k;
  const hits: SearchHit[] = [];
  let pageToken = "";
  let scanned = 0;
  do {
    const res = await clients.glm.retrieveKEMs({
      query: { textQuery: query, metadataFilters, searchMode: searchModeOf(filters.mode) },
      pageSize,
      pageToken,
    });
    res.kems.forEach((kem, i) => {
      const md = kem.metadata ?? {};
      const source = str(md.source_path);
      if (prefix && !source.startsWith(prefix)) return;
      hits.push({
        score: res.scores[i] ?? 0,
        id: kem.id,
        source,
        startLine: typeof md.start_line === "number" ? md.start_line : 0,
        endLine: typeof md.end_line === "number" ? md.end_line : 0,
        text: dec.decode(kem.content),
        symbol: str(md.symbol),
        language: str(md.language),
      });
    });
    scanned += res.kems.length;
    pageToken = prefix && hits.length < k && scanned < MAX_SCANNED ? res.nextPageToken : "";
  } while (pageToken);
  return hits.slice(0, k);
}

/** Formats hits for the terminal: one header line per hit and a one-line snippet. */
export function formatHits(hits: SearchHit[], snippetChars = 160): string {
  if (hits.length === 0) return "  (no results)";
  return hits
    .map((h) => {
      const where = `${h.source ? `${h.source}${h.startLine ? `:${h.startLine}-${h.endLine}` : ""}` : h.id}${h.symbol ? `  ${h.symbol}` : ""}`;
      const snippet = h.text.replace(/\s+/g, " ").trim().slice(0, snippetChars);
      return `  ${h.score.toFixed(3)}  ${where}\n         ${snippet}`;
    })
    .join("\n");
}
