/**
 * Ports of the GLM service: the KEM store and the vector index it depends on. Backends implement
 * these (`store/sqlite-store.ts`, `vector/exact-index.ts`); `service.ts` sees only the interfaces.
 * @module
 */
import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import type { KemFilter, KemRecord, KemWrite, UpdatedCursor } from "../common/kem-record.ts";

/** Partial update applied by {@link KemStore.update}. Absent fields are left alone. */
export interface KemPatch {
  contentType?: string;
  content?: Uint8Array;
  /** Metadata to apply; with `replaceMetadata` false, merged key by key (null removes a key). */
  metadata?: { [key: string]: JsonValue };
  replaceMetadata?: boolean;
  /** New normalized embedding; `null` removes it. */
  embedding?: Float32Array | null;
  /** Called with the would-be record inside the transaction; throwing aborts the update. */
  validate?: (next: KemRecord) => void;
}

/** A lexical search hit: KEM id and BM25 score (higher is better; comparable within one query only). */
export interface LexicalHit {
  id: string;
  score: number;
}

/** Options of {@link KemStore.lexicalSearch}. */
export interface LexicalSearchOptions {
  /** Only KEMs matching this filter (applied exactly; metadata equalities narrow the index walk). */
  filter?: KemFilter;
  /** Stable pagination: only hits after this (score, id) position in result order. */
  after?: { score: number; id: string };
}

/**
 * Durable KEM store (SQLite embedded; a shared engine such as PostgreSQL for many nodes). Every
 * method is atomic; methods are asynchronous so network engines can implement the same port.
 * Errors: `NotFoundError` for unknown ids on update; driver errors (e.g. SQLITE_BUSY) propagate.
 */
export interface KemStore {
  /**
   * Upserts records in one transaction (`INSERT … ON CONFLICT(id) DO UPDATE`, created_at kept),
   * with their metadata and lexical index entries.
   * Idempotency keys are scoped by the item's namespace (metadata `namespace`, "" for none): an
   * item whose key was used in the same namespace within the key lifetime, for a KEM that still
   * exists there, returns that KEM unchanged; otherwise it is stored and the key points at it.
   * @returns the stored records, in input order.
   */
  upsertMany(items: KemWrite[], idempotencyKeys?: (string | undefined)[]): Promise<KemRecord[]>;
  /** Records for these ids, in the given order, skipping unknown ids. */
  getMany(ids: string[]): Promise<KemRecord[]>;
  /** A page of records matching `filter`, ordered by `updated_at` DESC, id DESC, from indexes only. */
  find(filter: KemFilter, limit: number, after?: UpdatedCursor): Promise<KemRecord[]>;
  /** Ids of the records matching `filter`, at most `limit` (default: all), in no particular order. */
  findIds(filter: KemFilter, limit?: number): Promise<string[]>;
  /**
   * Row handles of the records matching `filter` (as {@link findIds}, as integers): for stores
   * that give every row a handle (SQLite: `kems.rid`). A local vector index that has every
   * vector's handle searches within them without id strings (docs/search.md "Filtered dense search").
   */
  findHandles?(filter: KemFilter, limit?: number): Promise<Int32Array>;
  /** Row handles of these ids, in order (-1 for an unknown id); for stores with {@link findHandles}. */
  handlesOf?(ids: string[]): Promise<Int32Array>;
  /**
   * Estimated number of records matching `filter`, from index entry counts (exact for a single
   * criterion), capped at a store-defined bound (`ESTIMATE_CAP` for SQLite). Used to choose
   * index-first or vector-first search.
   */
  estimateMatches(filter: KemFilter): Promise<number>;
  /** The subset of `ids` whose records match `filter`. */
  matchingIds(ids: string[], filter: KemFilter): Promise<Set<string>>;
  /**
   * Lexical (BM25) search over the text of text-like KEMs: best first (score desc, id asc), at
   * most `k`. `query` is free text (words are OR-ed, stopwords dropped; docs/search.md).
   */
  lexicalSearch(query: string, k: number, options?: LexicalSearchOptions): Promise<LexicalHit[]>;
  /** Applies a patch; throws `NotFoundError` for an unknown id. @returns the updated record. */
  update(id: string, patch: KemPatch): Promise<KemRecord>;
  /** Deletes a record (and the idempotency keys naming it). @returns false when the id was unknown. */
  delete(id: string): Promise<boolean>;
  /**
   * Puts records back exactly as given (timestamps included) and deletes `removeIds`, in one
   * transaction: the undo of a write whose vector could not be stored (docs/storage.md).
   */
  restore(records: KemRecord[], removeIds: string[]): Promise<void>;
  /**
   * Change log: (seq, id) of every write after `seq`, oldest first, at most `limit`. Every upsert,
   * update and delete appends one entry in its own transaction, so other processes sharing the file
   * can bring their vector index up to date.
   */
  changesSince(seq: number, limit: number): Promise<{ seq: number; id: string }[]>;
  /** Highest change sequence number (0 when none). */
  latestChangeSeq(): Promise<number>;
  /** Lowest change sequence number still in the log (0 when empty). */
  oldestChangeSeq(): Promise<number>;
  /** Drops all but the newest `keep` change-log entries. */
  pruneChanges(keep: number): Promise<void>;
  /** SQLite `PRAGMA data_version`: changes when another connection commits. */
  dataVersion(): Promise<number>;
  /** Calls `fn` for every stored embedding (index rebuild at start-up), with the row's handle where the store has them. */
  forEachEmbedding(fn: (id: string, embedding: Float32Array, handle?: number) => void): Promise<void>;
  /** Number of stored KEMs. */
  count(): Promise<number>;
  /** Closes the store. */
  close(): Promise<void>;
}

/** A vector search hit: KEM id and cosine similarity in [-1, 1]. */
export interface VectorHit {
  id: string;
  score: number;
}

/** A vector to index: KEM id, its L2-normalized embedding, and what external indexes filter on. */
export interface VectorEntry {
  id: string;
  vector: Float32Array;
  /** The store's row handle of the KEM ({@link KemStore.findHandles}), when the store has them. */
  handle?: number;
  /** Filterable fields of the KEM (stored as the point payload by Qdrant; ignored by local indexes). */
  payload?: { metadata: JsonObject; createdAtUs: number; updatedAtUs: number };
}

/** Options of {@link VectorIndex.search}. */
export interface VectorSearchOptions {
  /** Only ids in this set are candidates (the result of a metadata/date/id filter). */
  allow?: ReadonlySet<string>;
  /**
   * Only the KEMs of these row handles are candidates (the same, from {@link KemStore.findHandles});
   * pass it only to an index whose {@link VectorIndex.handlesComplete} is true.
   */
  allowHandles?: Int32Array;
  /** The same filter as a KEM filter, for indexes that filter natively (Qdrant). */
  filter?: KemFilter;
  /** Stable pagination: only hits after this (score, id) position in result order. */
  after?: { score: number; id: string };
  /** Results already returned on earlier pages (sizes the candidate fetch of approximate indexes). */
  offset?: number;
}

/** Size and freshness of a vector index (for logs, metrics and tests). */
export interface VectorIndexStats {
  /** Vectors searchable. */
  size: number;
  /** Vectors searchable only through the exact tail (not yet in the ANN graph). */
  unindexed: number;
  /** Backend name: "exact", "hnsw" or "qdrant". */
  kind: string;
}

/**
 * Vector index over normalized float32 vectors, derived from (and rebuildable from) the store.
 * Scores are cosine similarities; results are ordered by score descending, then id ascending.
 * Errors: `InvalidInputError` for vectors of the wrong dimension; `BackendUnavailableError` when an
 * external index (Qdrant) cannot be reached.
 */
export interface VectorIndex {
  /** Vector dimension this index accepts. */
  readonly dimension: number;
  /** True when writes can fail independently of SQLite (an external server). */
  readonly external: boolean;
  /** Adds or replaces vectors. */
  upsert(entries: VectorEntry[]): Promise<void>;
  /** Removes the vectors of these ids (absent ids are ignored). */
  remove(ids: string[]): Promise<void>;
  /** The `k` best hits for `query`, best first. */
  search(query: Float32Array, k: number, options?: VectorSearchOptions): Promise<VectorHit[]>;
  /** Removes every vector (before a full reload from the store). */
  clear(): Promise<void>;
  /**
   * Bulk load at start-up (defaults to `upsert`). An index restored from a snapshot keeps the
   * graph entries of loaded ids instead of re-indexing them.
   */
  load?(entries: VectorEntry[]): Promise<void>;
  /** Called once after the start-up load: drops snapshot entries whose ids were not loaded. */
  loadDone?(): Promise<void>;
  /** Change-log position of the snapshot this index was restored from, if any. */
  snapshotPosition?(): number | undefined | Promise<number | undefined>;
  /** Tells the index which change-log position its contents now reflect (saved in snapshots). */
  notePosition?(seq: number): void;
  /** Current size and indexing lag. */
  stats(): VectorIndexStats;
  /** True when every vector held came with its row handle, so `allowHandles` can be searched. */
  handlesComplete?(): boolean;
  /** Stops background work and persists what should survive a restart. */
  close(): Promise<void>;
}

/** Turns query text into a normalized embedding (the KPS model), used for `text_query`. */
export interface QueryEmbedder {
  /** Embedding dimension. */
  readonly dimension: number;
  /** Embeds texts; each result is L2-normalized, `dimension` long. */
  embed(texts: string[]): Promise<Float32Array[]>;
}
