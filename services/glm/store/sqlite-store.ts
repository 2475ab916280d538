/**
 * GLM's durable KEM store on `bun:sqlite` (docs/storage.md): table `kems` with the embedding in
 * the same row (little-endian float32 BLOB), so SQLite is the single source of truth; `kem_meta`
 * indexing every top-level scalar metadata value; `kem_fts` (FTS5) over the text of text-like
 * KEMs; a change log for other processes' vector indexes; namespace-scoped idempotency keys.
 * Every write updates the row and its index entries in one transaction. Filters are planned by
 * `sqlite-filter-plan.ts` and never scan `kems` (docs/search.md).
 * @module
 */
import { GLM_DEFAULTS } from "../../common/defaults.ts";
import { NotFoundError } from "../../common/errors.ts";
import type { KemRecord, KemWrite, UpdatedCursor } from "../../common/kem-record.ts";
import { openWalDatabase } from "../../common/sqlite-open.ts";
import { isoToMicros, microsToIso, nowMicros } from "../../common/time.ts";
import type { KemPatch, KemStore } from "../ports.ts";
import { applyPatch } from "./kem-patch.ts";
import { derivedIndexWriter } from "./sqlite-derived-index.ts";
import { chooseDriver, createEstimator, idsQuery, matchQuery, pageQuery } from "./sqlite-filter-plan.ts";
import { scopeOf, sqliteIdempotencyKeys } from "./sqlite-idempotency.ts";
import { createSqliteLexicalSearch } from "./sqlite-lexical.ts";
import { LexicalThread, LexicalThreadFailedError } from "./sqlite-lexical-thread.ts";
import { COLUMNS, K_COLUMNS, type Row, rowToRecord } from "./sqlite-rows.ts";
import { type MigrationProgress, migrateSchema } from "./sqlite-schema.ts";
import { createStatementCache } from "./sqlite-statement-cache.ts";
import { blobToVector, vectorToBlob } from "./vector-bytes.ts";

/** Options of {@link createSqliteKemStore}. */
export interface SqliteKemStoreOptions {
  /** Path of the database file, or ":memory:". */
  path: string;
  /** SQLite busy timeout in ms. @default 7500 */
  busyTimeoutMs?: number;
  /** How long an idempotency key is remembered, in ms (docs/storage.md "Idempotency keys"). @default 86400000 (24 h) */
  idempotencyTtlMs?: number;
  /** Called while an older data folder is migrated at open (every 50,000 KEMs and at the end). */
  onMigrationProgress?: (progress: MigrationProgress) => void;
  /**
   * Run lexical searches on a worker thread with its own read-only connection, in parallel with
   * the rest of a hybrid query (`sqlite-lexical-thread.ts`); a file store only. @default true
   */
  lexicalThread?: boolean;
  /** Location of the lexical worker script (packaging). */
  lexicalWorkerUrl?: string;
  /** Told when the lexical thread fails (search then runs on the store's connection). */
  log?: { warn(obj: object, msg: string): void };
}

/** A lexical thread for a store in a file, unless turned off; none for an in-memory database. */
function lexicalThreadFor(options: SqliteKemStoreOptions): LexicalThread | undefined {
  const path = options.path;
  if (options.lexicalThread === false || path === ":memory:" || path === "" || path.startsWith("file::memory:"))
    return undefined;
  const thread = new LexicalThread({
    path,
    busyTimeoutMs: options.busyTimeoutMs ?? 7500,
    workerUrl: options.lexicalWorkerUrl,
  });
  thread.onFailed = (err) =>
    options.log?.warn(
      { err: err.message },
      "GLM lexical search thread failed; lexical search runs on the store's connection",
    );
  return thread;
}

/**
 * Opens (creating or migrating if needed) a SQLite KEM store.
 * Applies `journal_mode=WAL`, `synchronous=NORMAL`, `foreign_keys=ON` and `busy_timeout`.
 * @param options - file path, busy timeout, idempotency key lifetime, migration progress callback.
 * @returns a {@link KemStore}; driver errors (SQLITE_BUSY after the timeout, I/O) propagate.
 */
export function createSqliteKemStore(options: SqliteKemStoreOptions): KemStore {
  const db = openWalDatabase(options.path, { busyTimeoutMs: options.busyTimeoutMs ?? 7500 });
  const idempotencyTtlUs = (options.idempotencyTtlMs ?? GLM_DEFAULTS.idempotencyTtlMs) * 1000;
  db.exec("PRAGMA synchronous = NORMAL;");
  db.exec("PRAGMA foreign_keys = ON;");
  try {
    migrateSchema(db, () => derivedIndexWriter(db), options.onMigrationProgress);
  } catch (err) {
    db.close();
    throw err;
  }
  const derived = derivedIndexWriter(db);

  const upsertStmt = db.query<
    { rid: number; created_at: string },
    [string, string, Uint8Array, string, string, string, Uint8Array | null]
  >(
    `INSERT INTO kems (id, content_type, content, metadata, created_at, updated_at, embedding) VALUES (?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT(id) DO UPDATE SET content_type = excluded.content_type, content = excluded.content,
       metadata = excluded.metadata, updated_at = excluded.updated_at, embedding = excluded.embedding
     RETURNING rid, created_at`,
  );
  const insertExact = db.query<
    { rid: number },
    [string, string, Uint8Array, string, string, string, Uint8Array | null]
  >(
    "INSERT INTO kems (id, content_type, content, metadata, created_at, updated_at, embedding) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING rid",
  );
  const getStmt = db.query<Row, [string]>(`SELECT ${COLUMNS} FROM kems WHERE id = ?`);
  const ridStmt = db.query<{ rid: number }, [string]>("SELECT rid FROM kems WHERE id = ?");
  const deleteStmt = db.query<{ rid: number }, [string]>("DELETE FROM kems WHERE id = ? RETURNING rid");
  const keys = sqliteIdempotencyKeys(db, idempotencyTtlUs, (id) => getStmt.get(id));
  const countStmt = db.query<{ n: number }, []>("SELECT COUNT(*) AS n FROM kems");
  const updateStmt = db.query<unknown, [string, Uint8Array, string, string, Uint8Array | null, string]>(
    "UPDATE kems SET content_type = ?, content = ?, metadata = ?, updated_at = ?, embedding = ? WHERE id = ?",
  );
  const logChange = db.query<unknown, [string]>("INSERT INTO kem_changes (kem_id) VALUES (?)");
  const changesStmt = db.query<{ seq: number; kem_id: string }, [number, number]>(
    "SELECT seq, kem_id FROM kem_changes WHERE seq > ? ORDER BY seq LIMIT ?",
  );
  const maxSeqStmt = db.query<{ s: number | null }, []>("SELECT MAX(seq) AS s FROM kem_changes");
  const minSeqStmt = db.query<{ s: number | null }, []>("SELECT MIN(seq) AS s FROM kem_changes");
  const pruneStmt = db.query<unknown, [number]>("DELETE FROM kem_changes WHERE seq <= ?");
  const dataVersionStmt = db.query<{ data_version: number }, []>("PRAGMA data_version");
  const estimator = createEstimator(db);
  const prepared = createStatementCache(db);
  const localLexical = createSqliteLexicalSearch(db, prepared);
  const lexicalThread = lexicalThreadFor(options);

  /** Inserts a full record (timestamps as given) with its index entries. */
  function insertRecord(r: KemRecord): void {
    const updatedIso = microsToIso(r.updatedAtUs);
    const metaJson = JSON.stringify(r.metadata);
    const { rid } = insertExact.get(
      r.id,
      r.contentType,
      r.content,
      metaJson,
      microsToIso(r.createdAtUs),
      updatedIso,
      r.embedding ? vectorToBlob(r.embedding) : null,
    )!;
    derived.add(rid, r.id, r.contentType, r.content, r.metadata, updatedIso);
  }

  /** Deletes a row and its index entries. @returns false when the id was unknown. */
  function deleteRecord(id: string): boolean {
    const gone = deleteStmt.get(id);
    if (!gone) return false;
    derived.remove(gone.rid, id);
    return true;
  }

  /** A transaction body that ends by writing its held `kem_fts` changes (dropped if it throws). */
  function indexed<A extends unknown[], R>(body: (...args: A) => R): (...args: A) => R {
    return (...args) => {
      try {
        const out = body(...args);
        derived.flush();
        return out;
      } finally {
        derived.discard();
      }
    };
  }

  const upsertTx = db.transaction(
    indexed((items: KemWrite[], itemKeys: (string | undefined)[] | undefined): KemRecord[] => {
      const out: KemRecord[] = [];
      for (let i = 0; i < items.length; i++) {
        const item = items[i]!;
        const key = itemKeys?.[i];
        const now = nowMicros();
        const scope = key ? scopeOf(item.metadata) : "";
        if (key) {
          const hit = keys.hit(scope, key, now);
          if (hit) {
            out.push(rowToRecord(hit));
            continue;
          }
        }
        const nowIso = microsToIso(now);
        const { rid, created_at } = upsertStmt.get(
          item.id,
          item.contentType,
          item.content,
          JSON.stringify(item.metadata),
          nowIso,
          nowIso,
          item.embedding ? vectorToBlob(item.embedding) : null,
        )!;
        // nowMicros() is strictly increasing, so a kept created_at different from now means the row existed.
        if (created_at !== nowIso) derived.remove(rid, item.id);
        derived.add(rid, item.id, item.contentType, item.content, item.metadata, nowIso);
        if (key) keys.remember(scope, key, item.id, nowIso);
        logChange.run(item.id);
        out.push({ ...item, createdAtUs: created_at === nowIso ? now : isoToMicros(created_at), updatedAtUs: now });
      }
      if (itemKeys) keys.wrote(items.length);
      return out;
    }),
  );

  const updateTx = db.transaction(
    indexed((id: string, patch: KemPatch): KemRecord => {
      const row = getStmt.get(id);
      if (!row) throw new NotFoundError(`KEM ${id} not found`);
      const cur = rowToRecord(row);
      const next = applyPatch(cur, patch);
      logChange.run(id);
      const updatedIso = microsToIso(next.updatedAtUs);
      updateStmt.run(
        next.contentType,
        next.content,
        JSON.stringify(next.metadata),
        updatedIso,
        next.embedding ? vectorToBlob(next.embedding) : null,
        id,
      );
      derived.remove(row.rid, id);
      derived.add(row.rid, id, next.contentType, next.content, next.metadata, updatedIso);
      return next;
    }),
  );

  const restoreTx = db.transaction(
    indexed((records: KemRecord[], removeIds: string[]) => {
      for (const r of records) {
        deleteRecord(r.id);
        insertRecord(r);
        logChange.run(r.id);
      }
      for (const id of removeIds) if (deleteRecord(id)) logChange.run(id);
    }),
  );
  const deleteTx = db.transaction(
    indexed((id: string): boolean => {
      const gone = deleteRecord(id);
      if (gone) {
        keys.forget(id);
        logChange.run(id);
      }
      return gone;
    }),
  );

  return {
    upsertMany: async (items, keys) => upsertTx.immediate(items, keys),
    async getMany(ids) {
      const out: KemRecord[] = [];
      for (const id of ids) {
        const row = getStmt.get(id);
        if (row) out.push(rowToRecord(row));
      }
      return out;
    },
    async find(filter, limit, after?: UpdatedCursor) {
      const { driver } = chooseDriver(filter, estimator);
      const q = pageQuery(K_COLUMNS, filter, driver, after, limit);
      return prepared<Row>(q.sql)
        .all(...q.params)
        .map(rowToRecord);
    },
    async findIds(filter, limit = Number.MAX_SAFE_INTEGER) {
      const { driver } = chooseDriver(filter, estimator);
      const q = idsQuery(filter, driver, limit);
      // Rows as arrays (no object per row): allow-lists can hold thousands of ids.
      return (prepared<unknown>(q.sql).values(...q.params) as [string][]).map((r) => r[0]);
    },
    async findHandles(filter, limit = Number.MAX_SAFE_INTEGER) {
      const { driver } = chooseDriver(filter, estimator);
      const q = idsQuery(filter, driver, limit, "rid");
      const rows = prepared<unknown>(q.sql).values(...q.params) as [number][];
      const out = new Int32Array(rows.length);
      for (let i = 0; i < rows.length; i++) out[i] = rows[i]![0];
      return out;
    },
    async handlesOf(ids) {
      const out = new Int32Array(ids.length);
      for (let i = 0; i < ids.length; i++) out[i] = ridStmt.get(ids[i]!)?.rid ?? -1;
      return out;
    },
    estimateMatches: async (filter) => chooseDriver(filter, estimator, true).estimate,
    async matchingIds(ids, filter) {
      if (ids.length === 0) return new Set();
      const q = matchQuery(filter, "id");
      return new Set(
        prepared<{ id: string }>(q.sql)
          .all(JSON.stringify(ids), ...q.params)
          .map((r) => r.id),
      );
    },
    async lexicalSearch(query, k, opts = {}) {
      if (!lexicalThread || lexicalThread.failed) return localLexical(query, k, opts);
      try {
        return await lexicalThread.search(query, k, opts);
      } catch (err) {
        if (err instanceof LexicalThreadFailedError) return localLexical(query, k, opts);
        throw err;
      }
    },
    update: async (id, patch) => updateTx.immediate(id, patch),
    delete: async (id) => deleteTx.immediate(id),
    restore: async (records, removeIds) => restoreTx.immediate(records, removeIds),
    async changesSince(seq, limit) {
      return changesStmt.all(seq, limit).map((r) => ({ seq: r.seq, id: r.kem_id }));
    },
    latestChangeSeq: async () => maxSeqStmt.get()?.s ?? 0,
    oldestChangeSeq: async () => minSeqStmt.get()?.s ?? 0,
    async pruneChanges(keep) {
      const max = maxSeqStmt.get()?.s ?? 0;
      if (max > keep) pruneStmt.run(max - keep);
    },
    dataVersion: async () => dataVersionStmt.get()!.data_version,
    async forEachEmbedding(fn) {
      const stmt = db.query<{ rid: number; id: string; embedding: Uint8Array }, []>(
        "SELECT rid, id, embedding FROM kems WHERE embedding IS NOT NULL",
      );
      for (const row of stmt.iterate()) fn(row.id, blobToVector(row.embedding), row.rid);
    },
    count: async () => countStmt.get()!.n,
    close: async () => {
      await lexicalThread?.close();
      db.close();
    },
  };
}
