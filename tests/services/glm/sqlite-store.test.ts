import { afterAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
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
  test("creates the version-2 schema, indexes and PRAGMAs in a real file", async () => {
    const path = join(tempDir(), "glm.sqlite");
    const store = createSqliteKemStore({ path });
    await store.upsertMany([write("a")]);
    await store.close();
    const db = new Database(path);
    const cols = db.query<{ name: string }, []>("PRAGMA table_info(kems)").all().map((c) => c.name);
    expect(cols).toEqual(["rid", "id", "content_type", "content", "metadata", "created_at", "updated_at", "embedding"]);
    expect(db.query<{ user_version: number }, []>("PRAGMA user_version").get()!.user_version).toBe(2);
    const tables = db.query<{ name: string }, []>("SELECT name FROM sqlite_master WHERE type = 'table'").all().map((t) => t.name);
    expect(tables).toEqual(expect.arrayContaining(["kems", "kem_meta", "kem_fts", "kem_changes", "idempotency_keys"]));
    const idx = db.query<{ name: string }, []>("PRAGMA index_list(kems)").all().map((i) => i.name);
    expect(idx).toContain("idx_kems_created_at");
    expect(idx).toContain("idx_kems_updated_at");
    expect(db.query<{ journal_mode: string }, []>("PRAGMA journal_mode").get()!.journal_mode).toBe("wal");
    const row = db.query<{ created_at: string }, []>("SELECT created_at FROM kems").get()!;
    expect(row.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    db.close();
  });
});
