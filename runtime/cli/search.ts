/**
 * `dcsm search`: semantic search over GLM (`RetrieveKEMs` with `text_query`), printed as score,
 * `source_path:start-end` and a snippet.
 * @module
 */
import type { DcsmClients } from "./clients.ts";

/** One search hit. */
export interface SearchHit {
  /** Cosine similarity. */
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
}

/**
 * Runs a semantic search.
 * @param clients - DCSM clients.
 * @param query - the question or phrase.
 * @param k - number of hits (1..1000). @default 5
 * @throws ConnectError from GLM (`InvalidArgument` for a blank query, `FailedPrecondition` without a model).
 */
export async function searchText(clients: DcsmClients, query: string, k = 5): Promise<SearchHit[]> {
  const res = await clients.glm.retrieveKEMs({ query: { textQuery: query }, pageSize: k });
  const dec = new TextDecoder();
  return res.kems.map((kem, i) => {
    const md = kem.metadata ?? {};
    return {
      score: res.scores[i] ?? 0,
      id: kem.id,
      source: typeof md.source_path === "string" ? md.source_path : "",
      startLine: typeof md.start_line === "number" ? md.start_line : 0,
      endLine: typeof md.end_line === "number" ? md.end_line : 0,
      text: dec.decode(kem.content),
    };
  });
}

/** Formats hits for the terminal: one header line per hit and a one-line snippet. */
export function formatHits(hits: SearchHit[], snippetChars = 160): string {
  if (hits.length === 0) return "  (no results)";
  return hits
    .map((h) => {
      const where = h.source ? `${h.source}${h.startLine ? `:${h.startLine}-${h.endLine}` : ""}` : h.id;
      const snippet = h.text.replace(/\s+/g, " ").trim().slice(0, snippetChars);
      return `  ${h.score.toFixed(3)}  ${where}\n         ${snippet}`;
    })
    .join("\n");
}
