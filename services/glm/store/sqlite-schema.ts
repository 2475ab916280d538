/**
 * Creates GLM's SQLite tables and indexes (`kems`, `kem_meta`, `kem_fts`, `kem_changes`,
 * `idempotency_keys`) in a new database file, and migrates older files: the schema is versioned
 * with `PRAGMA user_version` (docs/storage.md "SQLite schema").
 *
 * - Version 1 (no `user_version`): `kems` keyed by a TEXT id, change log, idempotency keys by key.
 * - Version 2: `kems` gets an integer row id (`rid`, the lexical index's rowid, stable across
 *   VACUUM); `kem_meta` indexes every top-level scalar metadata value for equality filters;
 *   `kem_fts` (FTS5) indexes the text of text-like KEMs; idempotency keys are scoped per namespace
 *   and expire. Migrating rewrites `kems` and backfills both indexes in one transaction, with
 *   progress reported every {@link BACKFILL_PROGRESS_EVERY} KEMs.
 * - Version 3: `kem_meta` entries also hold their KEM's `rid`, so a metadata filter yields row
 *   handles for the vector index without touching `kems` (docs/search.md "Filtered dense search").
 *   Migrating from version 2 fills the column, with the same progress reports.
 * @module
 */
import type { Database } from "bun:sqlite";

/** The schema version this code writes. */
export const SCHEMA_VERSION = 3;

/** KEMs between two progress reports while migrating. */
export const BACKFILL_PROGRESS_EVERY = 50_000;

/**
 * FTS5 tokenizer of the lexical index: Porter stemming over `unicode61` with diacritics folded.
 * Chosen by measurement on prose and code (docs/search.md "Tokenizer").
 */
export const FTS_TOKENIZER = "porter unicode61 remove_diacritics 2";

/** The current tables and indexes (an empty file gets exactly these). */
export const TABLES = `
CREATE TABLE kems (
  rid INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  content_type TEXT NOT NULL,
  content BLOB NOT NULL,
  metadata TEXT NOT NULL DEFAULT '{}',
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  embedding BLOB
);
CREATE INDEX idx_kems_created_at ON kems(created_at);
CREATE INDEX idx_kems_updated_at ON kems(updated_at, id);
CREATE TABLE kem_meta (
  key TEXT NOT NULL,
  value NOT NULL,
  updated_at TEXT NOT NULL,
  id TEXT NOT NULL,
  rid INTEGER,
  PRIMARY KEY (key, value, updated_at, id)
) WITHOUT ROWID;
CREATE INDEX idx_kem_meta_id ON kem_meta(id);
CREATE VIRTUAL TABLE kem_fts USING fts5(body, tags, content='', contentless_delete=1, tokenize='${FTS_TOKENIZER}');
CREATE TABLE IF NOT EXISTS kem_changes (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  kem_id TEXT NOT NULL
);
CREATE TABLE idempotency_keys (
  scope TEXT NOT NULL,
  key TEXT NOT NULL,
  kem_id TEXT NOT NULL,
  created_at TEXT NOT NULL,
  PRIMARY KEY (scope, key)
) WITHOUT ROWID;
CREATE INDEX idx_idempotency_kem ON idempotency_keys(kem_id);
CREATE INDEX idx_idempotency_created ON idempotency_keys(created_at);
`;

/**
 * A `kems` row's stored columns (the same in every schema version), as `bun:sqlite` returns them:
 * times are ISO 8601 text, `metadata` is JSON text, `embedding` is float32 bytes or null.
 */
export interface KemColumns {
  id: string;
  content_type: string;
  content: Uint8Array;
  metadata: string;
  created_at: string;
  updated_at: string;
  embedding: Uint8Array | null;
}

/** What the migration needs from the store to fill the derived indexes of one row. */
export interface RowIndexer {
  /** Writes `kem_meta` and `kem_fts` entries for a row just copied into the new `kems`. */
  indexRow(row: {
    rid: number;
    id: string;
    content_type: string;
    content: Uint8Array;
    metadata: string;
    updated_at: string;
  }): void;
}

/** Progress of a migration, for start-up logs. */
export interface MigrationProgress {
  from: number;
  to: number;
  done: number;
  total: number;
}

function userVersion(db: Database): number {
  return db.query<{ user_version: number }, []>("PRAGMA user_version").get()!.user_version;
}

function hasTable(db: Database, name: string): boolean {
  return db.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(name) !== null;
}

/**
 * Brings the database to {@link SCHEMA_VERSION}: creates the schema in an empty file, or migrates a
 * version-1 file in one IMMEDIATE transaction (so two processes opening the same old file migrate
 * it once; a crash leaves version 1 intact).
 * @param db - an open database (WAL, busy timeout set).
 * @param makeIndexer - builds the row indexer once the new tables exist (statements need them).
 * @param onProgress - called every {@link BACKFILL_PROGRESS_EVERY} rows and at the end.
 * @throws Error when the file was written by a newer DCSM (`user_version` above ours).
 */
export function migrateSchema(
  db: Database,
  makeIndexer: () => RowIndexer,
  onProgress?: (p: MigrationProgress) => void,
): void {
  if (userVersion(db) === SCHEMA_VERSION) return;
  db.transaction(() => {
    const version = userVersion(db);
    if (version === SCHEMA_VERSION) return; // another process migrated while we waited
    if (version > SCHEMA_VERSION) {
      throw new Error(
        `the GLM database has schema version ${version}, newer than this DCSM understands (${SCHEMA_VERSION})`,
      );
    }
    if (!hasTable(db, "kems")) {
      db.exec(TABLES);
    } else if (version < 2) {
      migrateV1(db, makeIndexer, onProgress);
    } else {
      migrateV2toV3(db, onProgress);
    }
    db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`);
  }).immediate();
}

/** Version 1 → current: `kems` rewritten with row ids, both derived indexes backfilled. */
function migrateV1(db: Database, makeIndexer: () => RowIndexer, onProgress?: (p: MigrationProgress) => void): void {
  db.exec(`
    ALTER TABLE kems RENAME TO kems_v1;
    ALTER TABLE idempotency_keys RENAME TO idempotency_keys_v1;
    DROP INDEX IF EXISTS idx_kems_created_at;
    DROP INDEX IF EXISTS idx_kems_updated_at;
  `);
  db.exec(TABLES);
  const total = db.query<{ n: number }, []>("SELECT COUNT(*) AS n FROM kems_v1").get()!.n;
  const indexer = makeIndexer();
  const copy = db.query<
    { rid: number; id: string; content_type: string; content: Uint8Array; metadata: string; updated_at: string },
    [string, string, Uint8Array, string, string, string, Uint8Array | null]
  >(
    `INSERT INTO kems (id, content_type, content, metadata, created_at, updated_at, embedding) VALUES (?, ?, ?, ?, ?, ?, ?)
     RETURNING rid, id, content_type, content, metadata, updated_at`,
  );
  let done = 0;
  for (const r of db
    .query<KemColumns, []>(
      "SELECT id, content_type, content, metadata, created_at, updated_at, embedding FROM kems_v1 ORDER BY rowid",
    )
    .iterate()) {
    const row = copy.get(r.id, r.content_type, r.content, r.metadata, r.created_at, r.updated_at, r.embedding)!;
    indexer.indexRow(row);
    if (++done % BACKFILL_PROGRESS_EVERY === 0) onProgress?.({ from: 1, to: SCHEMA_VERSION, done, total });
  }
  // Old keys had no scope: they are given the namespace of the KEM they name ('' for none).
  db.exec(`
    INSERT OR IGNORE INTO idempotency_keys (scope, key, kem_id, created_at)
      SELECT COALESCE(json_extract(k.metadata, '$.namespace'), ''), i.key, i.kem_id, i.created_at
      FROM idempotency_keys_v1 i JOIN kems k ON k.id = i.kem_id;
    DROP TABLE idempotency_keys_v1;
    DROP TABLE kems_v1;
  `);
  onProgress?.({ from: 1, to: SCHEMA_VERSION, done, total });
}

/** Version 2 → 3: `kem_meta.rid` added and filled from `kems`, one KEM at a time (progress as above). */
function migrateV2toV3(db: Database, onProgress?: (p: MigrationProgress) => void): void {
  db.exec("ALTER TABLE kem_meta ADD COLUMN rid INTEGER");
  const total = db.query<{ n: number }, []>("SELECT COUNT(*) AS n FROM kems").get()!.n;
  const fill = db.query<unknown, [number, string]>("UPDATE kem_meta SET rid = ? WHERE id = ?");
  let done = 0;
  for (const r of db.query<{ rid: number; id: string }, []>("SELECT rid, id FROM kems").iterate()) {
    fill.run(r.rid, r.id);
    if (++done % BACKFILL_PROGRESS_EVERY === 0) onProgress?.({ from: 2, to: 3, done, total });
  }
  onProgress?.({ from: 2, to: 3, done, total });
}
