/**
 * GLM's durable KEM store on `bun:sqlite` (seed 002 4.1.1): table `kems` with indexes on
 * `created_at`/`updated_at` and the seed's PRAGMAs, embeddings stored in the same row as
 * little-endian float32 BLOBs so SQLite is the single source of truth (DESIGN.md "Storage").
 * @module
 */
import type { Statement } from "bun:sqlite";
import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import { NotFoundError } from "../../shared/errors.ts";
import { openWalDatabase } from "../../shared/sqlite-open.ts";
import { isoToMicros, microsToIso, nowMicros } from "../../shared/time.ts";
import type { KemFilter, KemPatch, KemRecord, KemStore, KemWrite, UpdatedCursor } from "../ports.ts";

/** Options of {@link createSqliteKemStore}. */
export interface SqliteKemStoreOptions {
  /** Path of the database file, or ":memory:". */
  path: string;
  /** SQLite busy timeout in ms (seed: 7500). @default 7500 */
  busyTimeoutMs?: number;
}

interface Row {
  id: string;
  content_type: string;
  content: Uint8Array;
  metadata: string;
  created_at: string;
  updated_at: string;
  embedding: Uint8Array | null;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS kems (
  id TEXT PRIMARY KEY,
  content_type TEXT NOT NULL,
  content BLOB NOT NULL,
  metadata TEXT NOT NULL DEFAULT '{}',
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  embedding BLOB
);
CREATE INDEX IF NOT EXISTS idx_kems_created_at ON kems(created_at);
CREATE INDEX IF NOT EXISTS idx_kems_updated_at ON kems(updated_at);
CREATE TABLE IF NOT EXISTS kem_changes (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  kem_id TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS idempotency_keys (
  key TEXT PRIMARY KEY,
  kem_id TEXT NOT NULL,
  created_at TEXT NOT NULL
);
`;

const COLUMNS = "id, content_type, content, metadata, created_at, updated_at, embedding";

/** Encodes a float32 vector as a little-endian BLOB (a view, no copy, on little-endian hosts). */
export function vectorToBlob(v: Float32Array): Uint8Array {
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

/** Decodes a float32 BLOB (copies, so the result is aligned and owned). */
export function blobToVector(b: Uint8Array): Float32Array {
  const out = new Float32Array(b.byteLength / 4);
  new Uint8Array(out.buffer).set(b);
  return out;
}

function rowToRecord(r: Row): KemRecord {
  return {
    id: r.id,
    contentType: r.content_type,
    content: r.content,
    metadata: JSON.parse(r.metadata) as JsonObject,
    embedding: r.embedding ? blobToVector(r.embedding) : null,
    createdAtUs: isoToMicros(r.created_at),
    updatedAtUs: isoToMicros(r.updated_at),
  };
}

/** Builds the WHERE clause and parameters of a {@link KemFilter}. Metadata keys are validated upstream. */
function whereOf(filter: KemFilter): { sql: string; params: (string | number)[] } {
  const parts: string[] = [];
  const params: (string | number)[] = [];
  if (filter.ids && filter.ids.length > 0) {
    parts.push(`id IN (${filter.ids.map(() => "?").join(",")})`);
    params.push(...filter.ids);
  }
  for (const [key, value] of Object.entries(filter.metadata ?? {})) {
    const path = `$."${key}"`;
    if (typeof value === "boolean") {
      parts.push("json_type(metadata, ?) = ?");
      params.push(path, value ? "true" : "false");
    } else if (typeof value === "number") {
      parts.push("json_type(metadata, ?) IN ('integer','real') AND json_extract(metadata, ?) = ?");
      params.push(path, path, value);
    } else {
      parts.push("json_type(metadata, ?) = 'text' AND json_extract(metadata, ?) = ?");
      params.push(path, path, value);
    }
  }
  const range = (col: string, op: string, us: number | undefined) => {
    if (us === undefined) return;
    parts.push(`${col} ${op} ?`);
    params.push(microsToIso(us));
  };
  range("created_at", ">=", filter.createdFromUs);
  range("created_at", "<=", filter.createdToUs);
  range("updated_at", ">=", filter.updatedFromUs);
  range("updated_at", "<=", filter.updatedToUs);
  return { sql: parts.length ? parts.join(" AND ") : "1", params };
}

/**
 * Opens (creating if needed) a SQLite KEM store.
 * Applies `journal_mode=WAL`, `synchronous=NORMAL`, `foreign_keys=ON`, `busy_timeout` (seed 4.1.1).
 * @param options - file path and busy timeout.
 * @returns a {@link KemStore}; driver errors (SQLITE_BUSY after the timeout, I/O) propagate.
 */
export function createSqliteKemStore(options: SqliteKemStoreOptions): KemStore {
  const db = openWalDatabase(options.path, { busyTimeoutMs: options.busyTimeoutMs ?? 7500 });
  db.exec("PRAGMA synchronous = NORMAL;");
  db.exec("PRAGMA foreign_keys = ON;");
  db.exec(SCHEMA);

  const upsertStmt = db.query<{ created_at: string }, [string, string, Uint8Array, string, string, string, Uint8Array | null]>(
    `INSERT INTO kems (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT(id) DO UPDATE SET content_type = excluded.content_type, content = excluded.content,
       metadata = excluded.metadata, updated_at = excluded.updated_at, embedding = excluded.embedding
     RETURNING created_at`,
  );
  const getStmt = db.query<Row, [string]>(`SELECT ${COLUMNS} FROM kems WHERE id = ?`);
  const deleteStmt = db.query<{ id: string }, [string]>("DELETE FROM kems WHERE id = ? RETURNING id");
  const idemGet = db.query<{ kem_id: string }, [string]>("SELECT kem_id FROM idempotency_keys WHERE key = ?");
  const idemPut = db.query<unknown, [string, string, string]>(
    "INSERT INTO idempotency_keys (key, kem_id, created_at) VALUES (?, ?, ?)",
  );
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
  const filterCache = new Map<string, Statement<Row>>();

  const upsertTx = db.transaction((items: KemWrite[], keys: (string | undefined)[] | undefined): KemRecord[] => {
    const out: KemRecord[] = [];
    for (let i = 0; i < items.length; i++) {
      const key = keys?.[i];
      if (key) {
        const prior = idemGet.get(key);
        const existing = prior ? getStmt.get(prior.kem_id) : null;
        if (existing) {
          out.push(rowToRecord(existing));
          continue;
        }
      }
      const item = items[i]!;
      const now = nowMicros();
      const nowIso = microsToIso(now);
      const res = upsertStmt.get(
        item.id,
        item.contentType,
        item.content,
        JSON.stringify(item.metadata),
        nowIso,
        nowIso,
        item.embedding ? vectorToBlob(item.embedding) : null,
      );
      if (key) idemPut.run(key, item.id, nowIso);
      logChange.run(item.id);
      out.push({ ...item, createdAtUs: res ? isoToMicros(res.created_at) : now, updatedAtUs: now });
    }
    return out;
  });

  const updateTx = db.transaction((id: string, patch: KemPatch): KemRecord => {
    const row = getStmt.get(id);
    if (!row) throw new NotFoundError(`KEM ${id} not found`);
    const cur = rowToRecord(row);
    let metadata: JsonObject = cur.metadata;
    if (patch.metadata !== undefined) {
      if (patch.replaceMetadata) {
        metadata = stripNulls(patch.metadata);
      } else {
        metadata = { ...cur.metadata };
        for (const [k, v] of Object.entries(patch.metadata)) {
          if (v === null) delete metadata[k];
          else metadata[k] = v;
        }
      }
    }
    const next: KemRecord = {
      ...cur,
      contentType: patch.contentType ?? cur.contentType,
      content: patch.content ?? cur.content,
      metadata,
      embedding: patch.embedding !== undefined ? patch.embedding : cur.embedding,
      updatedAtUs: Math.max(nowMicros(), cur.updatedAtUs + 1),
    };
    patch.validate?.(next);
    logChange.run(id);
    updateStmt.run(
      next.contentType,
      next.content,
      JSON.stringify(next.metadata),
      microsToIso(next.updatedAtUs),
      next.embedding ? vectorToBlob(next.embedding) : null,
      id,
    );
    return next;
  });

  const restoreStmt = db.query<unknown, [string, string, Uint8Array, string, string, string, Uint8Array | null]>(
    `INSERT OR REPLACE INTO kems (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)`,
  );
  const restoreTx = db.transaction((records: KemRecord[], removeIds: string[]) => {
    for (const r of records) {
      restoreStmt.run(r.id, r.contentType, r.content, JSON.stringify(r.metadata), microsToIso(r.createdAtUs), microsToIso(r.updatedAtUs), r.embedding ? vectorToBlob(r.embedding) : null);
      logChange.run(r.id);
    }
    for (const id of removeIds) if (deleteStmt.get(id) !== null) logChange.run(id);
  });
  const deleteTx = db.transaction((id: string): boolean => {
    const gone = deleteStmt.get(id) !== null;
    if (gone) logChange.run(id);
    return gone;
  });

  function filterQuery(sqlTail: string, filter: KemFilter) {
    const { sql, params } = whereOf(filter);
    const text = `SELECT ${COLUMNS} FROM kems WHERE ${sql} ${sqlTail}`;
    let stmt = filterCache.get(text);
    if (!stmt) {
      stmt = db.query<Row, (string | number)[]>(text);
      if (filterCache.size > 256) filterCache.clear();
      filterCache.set(text, stmt);
    }
    return { stmt, params };
  }

  return {
    upsertMany: (items, keys) => upsertTx.immediate(items, keys),
    getMany(ids) {
      const out: KemRecord[] = [];
      for (const id of ids) {
        const row = getStmt.get(id);
        if (row) out.push(rowToRecord(row));
      }
      return out;
    },
    find(filter, limit, after?: UpdatedCursor) {
      const f = { ...filter };
      let tail = "";
      const extra: (string | number)[] = [];
      if (after) {
        tail = "AND (updated_at < ? OR (updated_at = ? AND id < ?))";
        const iso = microsToIso(after.updatedAtUs);
        extra.push(iso, iso, after.id);
      }
      const { stmt, params } = filterQuery(`${tail} ORDER BY updated_at DESC, id DESC LIMIT ?`, f);
      return stmt.all(...params, ...extra, limit).map(rowToRecord);
    },
    findIds(filter) {
      const { sql, params } = whereOf(filter);
      return db.query<{ id: string }, (string | number)[]>(`SELECT id FROM kems WHERE ${sql}`).all(...params).map((r) => r.id);
    },
    update: (id, patch) => updateTx.immediate(id, patch),
    delete: (id) => deleteTx.immediate(id),
    restore: (records, removeIds) => restoreTx.immediate(records, removeIds),
    changesSince(seq, limit) {
      return changesStmt.all(seq, limit).map((r) => ({ seq: r.seq, id: r.kem_id }));
    },
    latestChangeSeq: () => maxSeqStmt.get()?.s ?? 0,
    oldestChangeSeq: () => minSeqStmt.get()?.s ?? 0,
    pruneChanges(keep) {
      const max = maxSeqStmt.get()?.s ?? 0;
      if (max > keep) pruneStmt.run(max - keep);
    },
    dataVersion: () => dataVersionStmt.get()!.data_version,
    forEachEmbedding(fn) {
      const stmt = db.query<{ id: string; embedding: Uint8Array }, []>("SELECT id, embedding FROM kems WHERE embedding IS NOT NULL");
      for (const row of stmt.iterate()) fn(row.id, blobToVector(row.embedding));
    },
    count: () => countStmt.get()!.n,
    close: () => db.close(),
  };
}

function stripNulls(obj: { [key: string]: JsonValue }): JsonObject {
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(obj)) if (v !== null) out[k] = v;
  return out;
}
