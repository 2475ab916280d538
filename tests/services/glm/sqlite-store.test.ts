import { Database } from "bun:sqlite";
import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { createSqliteKemStore } from "../../../services/glm/store/sqlite-store.ts";
import { removeTempDirs, tempDir } from "../../helpers/temp-dir.ts";
import { kemStoreContract } from "./kem-store-contract.ts";

afterAll(removeTempDirs);
const enc = new TextEncoder();

function write(id: string) {
  return { id, contentType: "text/plain", content: enc.encode(`content of ${id}`), metadata: {}, embedding: null };
}

kemStoreContract({
  name: "SQLite",
  async create() {
    const path = join(tempDir(), "glm.sqlite");
    return { open: async (options) => createSqliteKemStore({ path, ...options }) };
  },
});

describe("SQLite KEM store", () => {
  test("creates the version-3 schema, indexes and PRAGMAs in a real file", async () => {
    const path = join(tempDir(), "glm.sqlite");
    const store = createSqliteKemStore({ path });
    await store.upsertMany([write("a")]);
    await store.close();
    const db = new Database(path);
    const cols = db
      .query<{ name: string }, []>("PRAGMA table_info(kems)")
      .all()
      .map((c) => c.name);
    expect(cols).toEqual(["rid", "id", "content_type", "content", "metadata", "created_at", "updated_at", "embedding"]);
    expect(db.query<{ user_version: number }, []>("PRAGMA user_version").get()!.user_version).toBe(3);
    const meta = db
      .query<{ name: string }, []>("PRAGMA table_info(kem_meta)")
      .all()
      .map((c) => c.name);
    expect(meta).toEqual(["key", "value", "updated_at", "id", "rid"]);
    const tables = db
      .query<{ name: string }, []>("SELECT name FROM sqlite_master WHERE type = 'table'")
      .all()
      .map((t) => t.name);
    expect(tables).toEqual(expect.arrayContaining(["kems", "kem_meta", "kem_fts", "kem_changes", "idempotency_keys"]));
    const idx = db
      .query<{ name: string }, []>("PRAGMA index_list(kems)")
      .all()
      .map((i) => i.name);
    expect(idx).toContain("idx_kems_created_at");
    expect(idx).toContain("idx_kems_updated_at");
    expect(db.query<{ journal_mode: string }, []>("PRAGMA journal_mode").get()!.journal_mode).toBe("wal");
    const row = db.query<{ created_at: string }, []>("SELECT created_at FROM kems").get()!;
    expect(row.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    db.close();
  });
});

describe("SQLite KEM store: lexical index writes held to the end of the transaction", () => {
  const text = (id: string, body: string) => ({
    id,
    contentType: "text/plain",
    content: enc.encode(body),
    metadata: { tag: id },
    embedding: null,
  });
  const ids = (hits: { id: string }[]) => hits.map((h) => h.id).sort();

  test("a batch writing one id twice indexes only its last text; a restore re-indexes the rows it puts back", async () => {
    const store = createSqliteKemStore({ path: join(tempDir(), "glm.sqlite") });
    await store.upsertMany([text("a", "alpha walrus"), text("b", "beta walrus"), text("a", "gamma narwhal")]);
    expect(ids(await store.lexicalSearch("alpha", 10))).toEqual([]);
    expect(ids(await store.lexicalSearch("gamma", 10))).toEqual(["a"]);
    expect(ids(await store.lexicalSearch("walrus", 10))).toEqual(["b"]);
    expect(ids(await store.lexicalSearch("narwhal", 10, { filter: { metadata: { tag: "a" } } }))).toEqual(["a"]);
    const before = await store.getMany(["a", "b"]);
    await store.upsertMany([text("a", "delta"), text("c", "epsilon")]);
    await store.restore(before, ["c"]);
    expect(ids(await store.lexicalSearch("delta epsilon", 10))).toEqual([]);
    expect(ids(await store.lexicalSearch("narwhal walrus", 10))).toEqual(["a", "b"]);
    await store.close();
  });

  test("a batch of 200 KEMs adds one FTS5 segment, not one per KEM", async () => {
    const path = join(tempDir(), "glm.sqlite");
    const store = createSqliteKemStore({ path });
    // Keys make every item also write an idempotency key and a change-log entry between the FTS inserts' rows.
    const items = Array.from({ length: 200 }, (_, i) => text(`k${i}`, `note ${i} about walruses`));
    await store.upsertMany(
      items,
      items.map((_, i) => `key-${i}`),
    );
    await store.close();
    const db = new Database(path, { readonly: true });
    // One segment per flush: writing each KEM's FTS row between its other writes left 10 after the
    // merges at commit.
    const segments = db.query<{ n: number }, []>("SELECT COUNT(DISTINCT segid) AS n FROM kem_fts_idx").get()!.n;
    db.close();
    expect(segments).toBe(1);
  });
});
