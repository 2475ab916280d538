import { Database } from "bun:sqlite";
import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import type { KemFilter } from "../../../services/common/kem-record.ts";
import { microsToIso } from "../../../services/common/time.ts";
import type { MigrationProgress } from "../../../services/glm/store/sqlite-schema.ts";
import { createSqliteKemStore } from "../../../services/glm/store/sqlite-store.ts";
import { vectorToBlob } from "../../../services/glm/store/vector-bytes.ts";
import { removeTempDirs, tempDir } from "../../helpers/temp-dir.ts";

afterAll(removeTempDirs);
const enc = new TextEncoder();

/** The schema a version-1 data folder has (no user_version), exactly as DCSM wrote it then. */
const V1_SCHEMA = `
CREATE TABLE kems (id TEXT PRIMARY KEY, content_type TEXT NOT NULL, content BLOB NOT NULL, metadata TEXT NOT NULL DEFAULT '{}',
  created_at TEXT NOT NULL, updated_at TEXT NOT NULL, embedding BLOB);
CREATE INDEX idx_kems_created_at ON kems(created_at);
CREATE INDEX idx_kems_updated_at ON kems(updated_at);
CREATE TABLE kem_changes (seq INTEGER PRIMARY KEY AUTOINCREMENT, kem_id TEXT NOT NULL);
CREATE TABLE idempotency_keys (key TEXT PRIMARY KEY, kem_id TEXT NOT NULL, created_at TEXT NOT NULL);
`;

function writeV1(path: string, n: number): void {
  const db = new Database(path);
  db.exec("PRAGMA journal_mode = WAL;");
  db.exec(V1_SCHEMA);
  const ins = db.query("INSERT INTO kems VALUES (?, ?, ?, ?, ?, ?, ?)");
  const now = Date.now() * 1000;
  db.transaction(() => {
    for (let i = 0; i < n; i++) {
      const iso = microsToIso(now - (n - i) * 1000);
      const type = i % 10 === 9 ? "application/octet-stream" : "text/plain";
      const metadata = JSON.stringify({ namespace: i % 2 ? "a" : "b", n: i, ok: i % 3 === 0, nested: { x: 1 } });
      ins.run(
        `old-${i}`,
        type,
        enc.encode(`archived note ${i} about ${i % 4 === 0 ? "lighthouses" : "gardens"}`),
        metadata,
        iso,
        iso,
        vectorToBlob(new Float32Array([i, 1, 0])),
      );
      db.query("INSERT INTO kem_changes (kem_id) VALUES (?)").run(`old-${i}`);
    }
    db.query("INSERT INTO idempotency_keys VALUES (?, ?, ?)").run("order-1", "old-1", microsToIso(now));
  })();
  db.close();
}

/** The schema a version-2 data folder has (`user_version` 2), exactly as DCSM wrote it then. */
const V2_SCHEMA = `
CREATE TABLE kems (rid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, content_type TEXT NOT NULL, content BLOB NOT NULL,
  metadata TEXT NOT NULL DEFAULT '{}', created_at TEXT NOT NULL, updated_at TEXT NOT NULL, embedding BLOB);
CREATE INDEX idx_kems_created_at ON kems(created_at);
CREATE INDEX idx_kems_updated_at ON kems(updated_at, id);
CREATE TABLE kem_meta (key TEXT NOT NULL, value NOT NULL, updated_at TEXT NOT NULL, id TEXT NOT NULL,
  PRIMARY KEY (key, value, updated_at, id)) WITHOUT ROWID;
CREATE INDEX idx_kem_meta_id ON kem_meta(id);
CREATE VIRTUAL TABLE kem_fts USING fts5(body, tags, content='', contentless_delete=1, tokenize='porter unicode61 remove_diacritics 2');
CREATE TABLE kem_changes (seq INTEGER PRIMARY KEY AUTOINCREMENT, kem_id TEXT NOT NULL);
CREATE TABLE idempotency_keys (scope TEXT NOT NULL, key TEXT NOT NULL, kem_id TEXT NOT NULL, created_at TEXT NOT NULL,
  PRIMARY KEY (scope, key)) WITHOUT ROWID;
CREATE INDEX idx_idempotency_kem ON idempotency_keys(kem_id);
CREATE INDEX idx_idempotency_created ON idempotency_keys(created_at);
PRAGMA user_version = 2;
`;

/** A version-2 file of `n` KEMs with their `kem_meta` entries (namespace a/b, n). */
function writeV2(path: string, n: number): void {
  const db = new Database(path);
  db.exec("PRAGMA journal_mode = WAL;");
  db.exec(V2_SCHEMA);
  const ins = db.query<{ rid: number }, [string, string, Uint8Array, string, string, string, Uint8Array]>(
    "INSERT INTO kems (id, content_type, content, metadata, created_at, updated_at, embedding) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING rid",
  );
  const meta = db.query("INSERT INTO kem_meta (key, value, updated_at, id) VALUES (?, ?, ?, ?)");
  const now = Date.now() * 1000;
  db.transaction(() => {
    for (let i = 0; i < n; i++) {
      const iso = microsToIso(now - (n - i) * 1000);
      const ns = i % 2 ? "a" : "b";
      const id = `v2-${i}`;
      ins.get(
        id,
        "text/plain",
        enc.encode(`note ${i}`),
        JSON.stringify({ namespace: ns, n: i % 5 }),
        iso,
        iso,
        vectorToBlob(new Float32Array([i, 1, 0])),
      );
      meta.run("namespace", ns, iso, id);
      meta.run("n", i % 5, iso, id);
    }
  })();
  db.close();
}

describe("SQLite schema migration", () => {
  test("a version-1 data folder opens, migrates once with progress, and keeps every KEM, vector, change and key", async () => {
    const path = join(tempDir(), "glm.sqlite");
    writeV1(path, 120);
    const progress: MigrationProgress[] = [];
    const store = createSqliteKemStore({ path, onMigrationProgress: (p) => progress.push(p) });
    expect(progress.at(-1)).toEqual({ from: 1, to: 3, done: 120, total: 120 });
    expect(await store.count()).toBe(120);
    const [r] = await store.getMany(["old-7"]);
    expect(r!.metadata).toEqual({ namespace: "a", n: 7, ok: false, nested: { x: 1 } });
    expect(Array.from(r!.embedding!)).toEqual([7, 1, 0]);
    // The change log is kept, so other processes' vector indexes stay valid.
    expect(await store.latestChangeSeq()).toBe(120);
    // Filters come from the backfilled metadata index.
    expect((await store.find({ metadata: { namespace: "a", ok: true } }, 200)).map((k) => k.id).sort()).toEqual(
      Array.from({ length: 120 }, (_, i) => i)
        .filter((i) => i % 2 === 1 && i % 3 === 0)
        .map((i) => `old-${i}`)
        .sort(),
    );
    // Text KEMs are in the lexical index; the octet-stream ones are not.
    const hits = await store.lexicalSearch("lighthouse", 100);
    expect(hits.map((h) => h.id).sort()).toEqual(
      Array.from({ length: 120 }, (_, i) => i)
        .filter((i) => i % 4 === 0 && i % 10 !== 9)
        .map((i) => `old-${i}`)
        .sort(),
    );
    // The old key now belongs to the namespace of the KEM it named.
    const write = {
      id: "fresh",
      contentType: "text/plain",
      content: enc.encode("x"),
      metadata: { namespace: "a" },
      embedding: null,
    };
    expect((await store.upsertMany([write], ["order-1"]))[0]!.id).toBe("old-1");
    expect((await store.upsertMany([{ ...write, metadata: { namespace: "b" } }], ["order-1"]))[0]!.id).toBe("fresh");
    await store.close();
    // Opening again finds version 3: nothing to migrate.
    const again: MigrationProgress[] = [];
    const reopened = createSqliteKemStore({ path, onMigrationProgress: (p) => again.push(p) });
    expect(again).toEqual([]);
    expect(await reopened.count()).toBe(121);
    await reopened.close();
  });

  test("a version-2 data folder gains row handles in its metadata index: filters give the same KEMs as ids and as handles", async () => {
    const path = join(tempDir(), "glm.sqlite");
    writeV2(path, 90);
    const progress: MigrationProgress[] = [];
    const store = createSqliteKemStore({ path, onMigrationProgress: (p) => progress.push(p) });
    expect(progress.at(-1)).toEqual({ from: 2, to: 3, done: 90, total: 90 });
    const db = new Database(path, { readonly: true });
    expect(db.query("SELECT COUNT(*) AS n FROM kem_meta WHERE rid IS NULL").get()).toEqual({ n: 0 });
    db.close();
    const filters: KemFilter[] = [
      { metadata: { namespace: "a" } },
      { metadata: { namespace: "b", n: 4 } },
      { ids: ["v2-3"] },
    ];
    for (const filter of filters) {
      const ids = (await store.findIds(filter)).sort();
      expect(ids.length).toBeGreaterThan(0);
      const handles = await store.findHandles!(filter);
      const all = await store.findIds({});
      const byHandle = new Map(Array.from(await store.handlesOf!(all)).map((h, i) => [h, all[i]!]));
      expect(Array.from(handles, (h) => byHandle.get(h)!).sort()).toEqual(ids);
    }
    // New writes carry their handle too, and rewritten metadata moves it.
    await store.upsertMany([
      {
        id: "v2-4",
        contentType: "text/plain",
        content: enc.encode("moved"),
        metadata: { namespace: "c" },
        embedding: null,
      },
    ]);
    const [h4] = await store.handlesOf!(["v2-4"]);
    expect(Array.from(await store.findHandles!({ metadata: { namespace: "c" } }))).toEqual([h4!]);
    expect(Array.from(await store.findHandles!({ metadata: { namespace: "b" } }))).not.toContain(h4!);
    await store.close();
  });

  test("a file from a newer DCSM is refused, not damaged", async () => {
    const path = join(tempDir(), "glm.sqlite");
    const db = new Database(path);
    db.exec("CREATE TABLE kems (x); PRAGMA user_version = 99;");
    db.close();
    expect(() => createSqliteKemStore({ path })).toThrow(/schema version 99, newer/);
    const check = new Database(path);
    expect(check.query<{ user_version: number }, []>("PRAGMA user_version").get()!.user_version).toBe(99);
    check.close();
  });
});
