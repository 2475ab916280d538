import { afterAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { join } from "node:path";
import { createSqliteKemStore } from "../../../services/glm/store/sqlite-store.ts";
import { NotFoundError } from "../../../services/shared/errors.ts";
import { removeTempDirs, tempDir } from "../../helpers/temp-dir.ts";

afterAll(removeTempDirs);
const enc = new TextEncoder();

function write(id: string, metadata: Record<string, string | number | boolean> = {}, embedding: Float32Array | null = null) {
  return { id, contentType: "text/plain", content: enc.encode(`content of ${id}`), metadata, embedding };
}

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

  test("upsert keeps created_at, advances updated_at and round-trips embeddings", async () => {
    const store = createSqliteKemStore({ path: join(tempDir(), "glm.sqlite") });
    const v = new Float32Array([0.6, 0.8, 0]);
    const [first] = (await store.upsertMany([write("a", { topic: "AI" }, v)]));
    const [second] = (await store.upsertMany([{ ...write("a", { topic: "ML" }), embedding: v }]));
    expect(second!.createdAtUs).toBe(first!.createdAtUs);
    expect(second!.updatedAtUs).toBeGreaterThan(first!.updatedAtUs);
    const [got] = (await store.getMany(["a"]));
    expect(got!.metadata).toEqual({ topic: "ML" });
    expect(Array.from(got!.embedding!)).toEqual(Array.from(v));
    expect((await store.count())).toBe(1);
    await store.close();
  });

  test("typed metadata filters, date ranges and keyset pages", async () => {
    const store = createSqliteKemStore({ path: join(tempDir(), "glm.sqlite") });
    await store.upsertMany([
      write("s1", { kind: "doc", n: 1, ok: true }),
      write("s2", { kind: "doc", n: 2, ok: false }),
      write("s3", { kind: "code", n: 1, ok: true }),
      write("s4", { kind: "1", n: "1" as unknown as number }),
    ]);
    expect((await store.find({ metadata: { kind: "doc" } }, 10)).map((r) => r.id)).toEqual(["s2", "s1"]);
    expect((await store.find({ metadata: { n: 1 } }, 10)).map((r) => r.id)).toEqual(["s3", "s1"]);
    expect((await store.find({ metadata: { ok: true } }, 10)).map((r) => r.id)).toEqual(["s3", "s1"]);
    expect((await store.find({ metadata: { ok: false } }, 10)).map((r) => r.id)).toEqual(["s2"]);
    // "1" (string) is not 1 (number).
    expect((await store.find({ metadata: { kind: 1 as unknown as string } }, 10))).toEqual([]);
    const all = (await store.find({}, 10));
    const mid = all[1]!;
    expect((await store.find({ updatedFromUs: mid.updatedAtUs }, 10)).map((r) => r.id)).toEqual(all.slice(0, 2).map((r) => r.id));
    expect((await store.find({ createdToUs: mid.createdAtUs }, 10)).map((r) => r.id)).toEqual(all.slice(1).map((r) => r.id));
    const page1 = (await store.find({}, 2));
    const page2 = (await store.find({}, 2, { updatedAtUs: page1[1]!.updatedAtUs, id: page1[1]!.id }));
    expect([...page1, ...page2].map((r) => r.id)).toEqual(all.map((r) => r.id));
    await store.close();
  });

  test("update merges or replaces metadata and raises NotFound for unknown ids", async () => {
    const store = createSqliteKemStore({ path: join(tempDir(), "glm.sqlite") });
    await store.upsertMany([write("u", { a: 1, b: "x" })]);
    expect((await store.update("u", { metadata: { b: null, c: true } })).metadata).toEqual({ a: 1, c: true });
    expect((await store.update("u", { metadata: { z: 1 }, replaceMetadata: true })).metadata).toEqual({ z: 1 });
    await expect(store.update("nope", { contentType: "text/plain" })).rejects.toThrow(NotFoundError);
    await store.close();
  });

  test("idempotency keys store once", async () => {
    const store = createSqliteKemStore({ path: join(tempDir(), "glm.sqlite") });
    const [a] = (await store.upsertMany([write("i1")], ["key-1"]));
    const [b] = (await store.upsertMany([write("i2")], ["key-1"]));
    expect(b!.id).toBe(a!.id);
    expect((await store.count())).toBe(1);
    await store.close();
  });
});
