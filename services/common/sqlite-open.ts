/**
 * Opening a SQLite file in WAL mode when other processes may open it at the same moment (several
 * processes share one store: `journal_mode=WAL`, `busy_timeout`; see
 * docs/decisions/0001-sqlite-wal-and-busy-timeout.md).
 *
 * SQLite does not call the busy handler for every lock it needs while switching a database to WAL:
 * when two processes open a new file together, `PRAGMA journal_mode = WAL` in one of them can fail
 * at once with SQLITE_BUSY ("database is locked") although `busy_timeout` is set. Measured here: two
 * processes opening the GLM store on a fresh folder at the same instant, 65 of 150 tries failed
 * that way. {@link openWalDatabase} retries the switch until the busy timeout has passed.
 */
import { Database } from "bun:sqlite";
import { isSqliteBusy } from "./errors.ts";

/** Options of {@link openWalDatabase}. */
export interface WalOpenOptions {
  /** How long a statement waits for another connection's lock, in ms (`PRAGMA busy_timeout`). */
  busyTimeoutMs: number;
}

/**
 * Opens (creating if needed) a SQLite database with `busy_timeout` set first, then switches it to
 * WAL, retrying that switch every 5–20 ms while another connection holds the lock it needs.
 * @param path - database file path.
 * @param options - busy timeout in ms; also the longest the WAL switch is retried.
 * @returns the open database, in WAL mode.
 * @throws SQLiteError SQLITE_BUSY when the lock is still held after `busyTimeoutMs`; other driver
 *   errors (I/O, not a database) at once. The database is closed when this throws.
 */
export function openWalDatabase(path: string, options: WalOpenOptions): Database {
  const db = new Database(path, { create: true, strict: true });
  const timeout = Math.max(0, Math.floor(options.busyTimeoutMs));
  try {
    db.exec(`PRAGMA busy_timeout = ${timeout};`);
    const deadline = performance.now() + timeout;
    for (;;) {
      try {
        db.exec("PRAGMA journal_mode = WAL;");
        return db;
      } catch (err) {
        if (!isSqliteBusy(err) || performance.now() >= deadline) throw err;
        Bun.sleepSync(5 + Math.random() * 15);
      }
    }
  } catch (err) {
    db.close();
    throw err;
  }
}
