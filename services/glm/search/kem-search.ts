/**
 * GLM's ranked retrieval (docs/search.md): dense (vector), lexical (BM25) and hybrid (both fused
 * by weighted reciprocal rank fusion), each under any {@link KemFilter}, with stable pages.
 *
 * Filtered dense search is planned by the filter's estimated matches: a selective filter gives an
 * allow-list from the store's indexes that the vector index searches within (index-first); a
 * broad one searches the vector index first and keeps the hits the store confirms (vector-first),
 * widening the search until the page is full.
 * @module
 */
import { SearchMode } from "../../../sdk/gen/dcsm/v1/kem_pb.ts";
import { InvalidInputError, PreconditionError } from "../../common/errors.ts";
import { normalizeVector } from "../../common/kem-mapping.ts";
import type { KemFilter } from "../../common/kem-record.ts";
import type { KemRepository } from "../kem-repository.ts";
import type { QueryEmbedder, VectorHit } from "../ports.ts";
import { isAfter } from "../vector/exact-store.ts";
import { reciprocalRankFusion } from "./rank-fusion.ts";

/** The ranking a query is searched with, after resolving `SEARCH_MODE_UNSPECIFIED`. */
export type ResolvedMode = "vector" | "lexical" | "hybrid";

/** Hybrid ranking parameters (docs/search.md "Hybrid": tuned on a conversational-memory dev split). */
export interface HybridOptions {
  /** RRF constant k (60 in the RRF paper; 5 measured best here, docs/search.md). @default 5 */
  rrfK: number;
  /** Weight of the dense list. @default 1 */
  vectorWeight: number;
  /** Weight of the lexical list. @default 1 */
  lexicalWeight: number;
  /** Rank window: hits taken from each list, and the most a hybrid query returns over all its pages. @default 100 */
  window: number;
}

/** Default hybrid parameters. */
export const DEFAULT_HYBRID: Readonly<HybridOptions> = Object.freeze({
  rrfK: 5,
  vectorWeight: 1,
  lexicalWeight: 1,
  window: 100,
});

/** Largest rank window a page size can ask for. */
export const MAX_HYBRID_WINDOW = 1000;

/** Up to this many matching KEMs, filtered dense search is index-first (an allow-list). */
export const INDEX_FIRST_MAX = 20_000;

/** How a dense search applies its filter. */
type DensePlan =
  | { kind: "unfiltered" }
  | { kind: "allow"; allow: ReadonlySet<string> }
  | { kind: "handles"; handles: Int32Array }
  | { kind: "vector-first" };

/** A parsed query: filter plus at most one of a vector and a text. */
export interface SearchQuery {
  filter: KemFilter;
  filtered: boolean;
  vector?: Float32Array;
  text?: string;
}

/** Position after the last hit of a page: score, id, hits before it, and the hybrid window. */
export interface SearchCursor {
  s: number;
  i: string;
  o: number;
  w?: number;
}

/** Options of {@link KemSearch}. */
export interface KemSearchOptions {
  repository: KemRepository;
  /** Embeds text queries for dense and hybrid search; without it text is searched lexically only. */
  embedder?: QueryEmbedder;
  /** Embedding dimension. */
  dimension: number;
  /** Hybrid parameters. @default DEFAULT_HYBRID */
  hybrid?: Partial<HybridOptions>;
}

/**
 * Ranked search over a repository. Errors: `InvalidInputError` (→ `InvalidArgument`) for a mode
 * the query cannot use; `PreconditionError` (→ `FailedPrecondition`) for dense search of text
 * without an embedding model.
 */
export class KemSearch {
  private readonly repo: KemRepository;
  private readonly embedder?: QueryEmbedder;
  private readonly dimension: number;
  readonly hybrid: HybridOptions;

  constructor(options: KemSearchOptions) {
    this.repo = options.repository;
    this.embedder = options.embedder;
    this.dimension = options.dimension;
    this.hybrid = { ...DEFAULT_HYBRID, ...options.hybrid };
  }

  /**
   * The ranking for a query, or undefined for a plain listing (no vector, no text, no mode).
   * @throws InvalidInputError for a mode without a query, or LEXICAL/HYBRID without `text_query`.
   * @throws PreconditionError for VECTOR/HYBRID of a text query when no model is configured.
   */
  resolveMode(q: SearchQuery, requested: SearchMode): ResolvedMode | undefined {
    if (q.vector === undefined && q.text === undefined) {
      if (requested !== SearchMode.UNSPECIFIED)
        throw new InvalidInputError("query.search_mode needs query.text_query or query.embedding_query");
      return undefined;
    }
    switch (requested) {
      case SearchMode.UNSPECIFIED:
        if (q.vector) return "vector";
        return this.embedder ? "hybrid" : "lexical";
      case SearchMode.VECTOR:
        if (q.text !== undefined && !this.embedder)
          throw new PreconditionError(
            "vector search of text_query needs an embedding model, and this GLM has none configured",
          );
        return "vector";
      case SearchMode.LEXICAL:
        if (q.text === undefined) throw new InvalidInputError("SEARCH_MODE_LEXICAL needs query.text_query");
        return "lexical";
      case SearchMode.HYBRID:
        if (q.text === undefined) throw new InvalidInputError("SEARCH_MODE_HYBRID needs query.text_query");
        if (!this.embedder)
          throw new PreconditionError("hybrid search needs an embedding model, and this GLM has none configured");
        return "hybrid";
      default:
        throw new InvalidInputError(`query.search_mode ${requested} is not a known SearchMode`);
    }
  }

  /**
   * One page of hits, best first.
   * @param q - the query.
   * @param mode - from {@link resolveMode}.
   * @param limit - hits wanted (the caller asks one more than its page size to know if more exist).
   * @param cursor - the position after the previous page.
   * @returns the hits and, for hybrid, the rank window the following pages must keep.
   */
  async page(
    q: SearchQuery,
    mode: ResolvedMode,
    limit: number,
    cursor?: SearchCursor,
  ): Promise<{ hits: VectorHit[]; window?: number }> {
    const after = cursor ? { score: cursor.s, id: cursor.i } : undefined;
    const offset = cursor?.o ?? 0;
    if (mode === "lexical") {
      return {
        hits: await this.repo.store.lexicalSearch(q.text!, limit, { filter: q.filtered ? q.filter : undefined, after }),
      };
    }
    if (mode === "vector") {
      const vector = q.vector ?? (await this.embed(q.text!));
      return { hits: await this.vectorHits(vector, limit, q, after, offset) };
    }
    const window = cursor?.w ?? Math.min(MAX_HYBRID_WINDOW, Math.max(this.hybrid.window, limit));
    // The lexical list (on the store's lexical thread where it has one), the model's embedding and
    // the dense plan run at the same time; the dense search starts once the embedding is there.
    const lexicalList = this.repo.store.lexicalSearch(q.text!, window, { filter: q.filtered ? q.filter : undefined });
    const embedding = this.embed(q.text!);
    // Whichever fails first is the error; the other one's failure must not go unhandled.
    lexicalList.catch(() => {});
    embedding.catch(() => {});
    const plan = await this.densePlan(q);
    const dense = await this.denseHits(await embedding, window, q, plan, undefined, 0);
    const lexical = await lexicalList;
    const fused = reciprocalRankFusion(
      [
        { hits: dense, weight: this.hybrid.vectorWeight },
        { hits: lexical, weight: this.hybrid.lexicalWeight },
      ],
      this.hybrid.rrfK,
    );
    const hits: VectorHit[] = [];
    for (let i = 0; i < fused.length && hits.length < limit; i++)
      if (isAfter(fused[i]!.score, fused[i]!.id, after)) hits.push(fused[i]!);
    return { hits, window };
  }

  private async embed(text: string): Promise<Float32Array> {
    if (!this.embedder)
      throw new PreconditionError("text_query needs an embedding model, and this GLM has none configured");
    const [v] = await this.embedder.embed([text]);
    return normalizeVector(v!, this.dimension, "text_query embedding");
  }

  /** How a filtered dense search runs: an allow-list (index-first) or vector-first; nothing unfiltered. */
  private async densePlan(q: SearchQuery): Promise<DensePlan> {
    if (!q.filtered) return { kind: "unfiltered" };
    // One bounded read of the filter's matches decides: all of them fit (index-first) or not
    // (vector-first). As row handles when the store has them and the index holds every vector's.
    const { store, index } = this.repo;
    if (store.findHandles && index.handlesComplete?.()) {
      const handles = await store.findHandles(q.filter, INDEX_FIRST_MAX + 1);
      return handles.length <= INDEX_FIRST_MAX ? { kind: "handles", handles } : { kind: "vector-first" };
    }
    const ids = await store.findIds(q.filter, INDEX_FIRST_MAX + 1);
    return ids.length <= INDEX_FIRST_MAX ? { kind: "allow", allow: new Set(ids) } : { kind: "vector-first" };
  }

  /** Dense hits under the query's filter: index-first for selective filters, else vector-first. */
  private async vectorHits(
    vector: Float32Array,
    k: number,
    q: SearchQuery,
    after: { score: number; id: string } | undefined,
    offset: number,
  ): Promise<VectorHit[]> {
    return this.denseHits(vector, k, q, await this.densePlan(q), after, offset);
  }

  private async denseHits(
    vector: Float32Array,
    k: number,
    q: SearchQuery,
    plan: DensePlan,
    after: { score: number; id: string } | undefined,
    offset: number,
  ): Promise<VectorHit[]> {
    if (plan.kind === "unfiltered") return this.repo.search(vector, k, { after, offset });
    if (plan.kind === "allow")
      return this.repo.search(vector, k, { allow: plan.allow, filter: q.filter, after, offset });
    if (plan.kind === "handles") {
      const hits = await this.repo.search(vector, k, { allowHandles: plan.handles, filter: q.filter, after, offset });
      // A handle names one live row at a time, but another process may delete a row and reuse its
      // handle between the filter read and the index catching up: the hits are checked (≤ k ids).
      const pass = await this.repo.store.matchingIds(
        hits.map((h) => h.id),
        q.filter,
      );
      return pass.size === hits.length ? hits : hits.filter((h) => pass.has(h.id));
    }
    // Broad filter: most hits pass, so widen the vector search until k of them do.
    const total = Math.max(1, this.repo.index.stats().size);
    for (let want = Math.max(4 * k, 64); ; want *= 4) {
      const hits = await this.repo.search(vector, want, { filter: q.filter, after, offset });
      const pass = await this.repo.store.matchingIds(
        hits.map((h) => h.id),
        q.filter,
      );
      const kept = hits.filter((h) => pass.has(h.id));
      if (kept.length >= k || hits.length < want || want >= total) return kept.slice(0, k);
    }
  }
}
