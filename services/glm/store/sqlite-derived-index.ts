/**
 * The derived index entries of a `kems` row in the SQLite KEM store (docs/storage.md): `kem_meta`,
 * one row per top-level scalar metadata value, and `kem_fts`, the FTS5 entry over the text of a
 * text-like KEM; written and removed with the row in its transaction.
 * @module
 */
import type { Database, SQLQueryBindings } from "bun:sqlite";
import type { JsonObject } from "@bufbuild/protobuf";
import { lexicalBodyOf } from "../lexical/lexical-text.ts";
import { indexedEntriesOf, metadataTagsOf } from "./metadata-index.ts";
import type { RowIndexer } from "./sqlite-schema.ts";

/**
 * Writes and removes a row's derived index entries (`kem_meta`, `kem_fts`). `kem_meta` is written
 * at once; `kem_fts` changes are held until {@link DerivedIndexWriter.flush} (in call order), which
 * the transaction runs after its other statements. FTS5 writes its pending terms to disk as a new
 * segment whenever a later statement of the transaction opens a statement savepoint (an upsert,
 * `INSERT OR REPLACE`, an AUTOINCREMENT insert do), so interleaving FTS inserts with the row's
 * other writes made one tiny segment per KEM, to be merged again at commit (the `kems` upsert
 * measured 52 µs per KEM that way, 15 µs with the FTS writes last; docs/storage.md "Write path").
 */
export interface DerivedIndexWriter extends RowIndexer {
  add(
    rid: number,
    id: string,
    contentType: string,
    content: Uint8Array,
    metadata: JsonObject,
    updatedIso: string,
  ): void;
  remove(rid: number, id: string): void;
  /** Runs the held `kem_fts` changes; call last in the transaction. */
  flush(): void;
  /** Drops held changes (the transaction failed and rolls back). */
  discard(): void;
}

/** A {@link DerivedIndexWriter} on `db` (statements prepared once). */
export function derivedIndexWriter(db: Database): DerivedIndexWriter {
  const metaInsert = db.query<unknown, [string, SQLQueryBindings, string, string, number]>(
    "INSERT INTO kem_meta (key, value, updated_at, id, rid) VALUES (?, ?, ?, ?, ?)",
  );
  const metaDelete = db.query<unknown, [string]>("DELETE FROM kem_meta WHERE id = ?");
  const ftsInsert = db.query<unknown, [number, string, string]>(
    "INSERT INTO kem_fts (rowid, body, tags) VALUES (?, ?, ?)",
  );
  const ftsDelete = db.query<unknown, [number]>("DELETE FROM kem_fts WHERE rowid = ?");
  /** Held `kem_fts` changes: an insert `[rid, body, tags]` or a delete `[rid]`. */
  let held: ([number, string, string] | [number])[] = [];
  const add: DerivedIndexWriter["add"] = (rid, id, contentType, content, metadata, updatedIso) => {
    for (const [key, value] of indexedEntriesOf(metadata)) metaInsert.run(key, value, updatedIso, id, rid);
    const body = lexicalBodyOf(contentType, content);
    if (body !== undefined) held.push([rid, body, metadataTagsOf(metadata)]);
  };
  const flush = () => {
    const ops = held;
    held = [];
    for (const op of ops) {
      if (op.length === 1) ftsDelete.run(op[0]);
      else ftsInsert.run(op[0], op[1], op[2]);
    }
  };
  return {
    add,
    remove(rid, id) {
      metaDelete.run(id);
      held.push([rid]);
    },
    flush,
    discard() {
      held = [];
    },
    indexRow(row) {
      add(row.rid, row.id, row.content_type, row.content, JSON.parse(row.metadata) as JsonObject, row.updated_at);
      flush();
    },
  };
}
