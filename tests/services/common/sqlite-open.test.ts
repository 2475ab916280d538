/**
 * Two processes opening one SQLite file at the same moment (many processes, one store;
 * docs/decisions/0001-sqlite-wal-and-busy-timeout.md).
 * A real second process holds a lock on the new file; opening it in WAL mode must wait for that
 * lock, never fail at once with "database is locked", and fail with SQLITE_BUSY only after the busy
 * timeout.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { openWalDatabase } from "../../../services/common/sqlite-open.ts";
import { createSqliteKemStore } from "../../../services/glm/store/sqlite-store.ts";
import { createSqlitePersistQueue } from "../../../services/write-behind/sqlite-queue.ts";
import { removeTempDirs, tempDir } from "../../helpers/temp-dir.ts";

afterAll(removeTempDirs);

/** Starts a real process that creates `path` in rollback mode and holds `lock` on it for `holdMs`. */
async function holdLock(path: string, lock: "IMMEDIATE" | "EXCLUSIVE", holdMs: number) {
  const holder = Bun.spawn(
    [
      process.execPath,
      "-e",
      `const { Database } = require("bun:sqlite");
       const db = new Database(${JSON.stringify(path)}, { create: true });
       db.exec("CREATE TABLE IF NOT EXISTS t (x)");
       db.exec("BEGIN ${lock}; INSERT INTO t VALUES (1);");
       console.log("locked");
       setTimeout(() => { db.exec("COMMIT"); db.close(); }, ${holdMs});`,
    ],
    { stdout: "pipe", stderr: "inherit" },
  );
  const first = await holder.stdout.getReader().read();
  expect(new TextDecoder().decode(first.value)).toContain("locked");
  return holder;
}

describe("openWalDatabase", () => {
  // A RESERVED lock (BEGIN IMMEDIATE) is the case SQLite's busy handler does not cover: a plain
  // `PRAGMA journal_mode = WAL` fails within a millisecond despite busy_timeout.
  test("a RESERVED lock held by another process: plain PRAGMA fails at once, openWalDatabase waits for it", async () => {
    const path = join(tempDir(), "reserved.sqlite");
    const holder = await holdLock(path, "IMMEDIATE", 800);
    const { Database } = await import("bun:sqlite");
    const plain = new Database(path);
    plain.exec("PRAGMA busy_timeout = 5000");
    expect(() => plain.exec("PRAGMA journal_mode = WAL")).toThrow(/database is locked/);
    plain.close();

    const db = openWalDatabase(path, { busyTimeoutMs: 5000 });
    expect(db.query<{ journal_mode: string }, []>("PRAGMA journal_mode").get()!.journal_mode).toBe("wal");
    // The holder's row is visible: the open waited for its transaction to commit.
    expect(db.query<{ n: number }, []>("SELECT COUNT(*) AS n FROM t").get()!.n).toBe(1);
    db.close();
    expect(await holder.exited).toBe(0);
  });

  test("a lock held past the busy timeout: SQLITE_BUSY after about the timeout, not before", async () => {
    const path = join(tempDir(), "held.sqlite");
    const holder = await holdLock(path, "IMMEDIATE", 3000);
    const t0 = performance.now();
    let code: unknown;
    try {
      openWalDatabase(path, { busyTimeoutMs: 250 }).close();
    } catch (err) {
      code = (err as { code?: unknown }).code;
    }
    const waited = performance.now() - t0;
    expect(code).toBe("SQLITE_BUSY");
    expect(waited).toBeGreaterThanOrEqual(250);
    expect(waited).toBeLessThan(3000);
    expect(await holder.exited).toBe(0);
  });

  for (const lock of ["IMMEDIATE", "EXCLUSIVE"] as const) {
    test(`the GLM store and the persist queue open while another process holds ${lock} on their file`, async () => {
      const dir = tempDir();
      const storeHolder = await holdLock(join(dir, "glm.sqlite"), lock, 300);
      const store = createSqliteKemStore({ path: join(dir, "glm.sqlite") });
      await store.upsertMany([
        { id: "k1", contentType: "text/plain", content: new Uint8Array([1]), metadata: {}, embedding: null },
      ]);
      expect(await store.count()).toBe(1);
      await store.close();
      expect(await storeHolder.exited).toBe(0);

      const queueHolder = await holdLock(join(dir, "queue.sqlite"), lock, 300);
      const queue = createSqlitePersistQueue({ path: join(dir, "queue.sqlite") });
      expect((await queue.stats()).depth).toBe(0);
      await queue.close();
      expect(await queueHolder.exited).toBe(0);
    });
  }
});
