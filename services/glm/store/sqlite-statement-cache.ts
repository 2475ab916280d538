/**
 * Prepared statements for dynamic SQL (filter plans, lexical filters), kept per connection and
 * keyed by SQL text: the shapes a planner produces are few, so preparing each once saves the
 * parse on every query.
 * @module
 */
import type { Database, SQLQueryBindings, Statement } from "bun:sqlite";

/** Returns the prepared statement for `sql`, preparing it on first use. */
export type PreparedStatements = <T>(sql: string) => Statement<T, SQLQueryBindings[]>;

/**
 * A statement cache over `db`.
 * @param db - the connection the statements run on.
 * @param maxSize - statements kept; the cache is emptied when full (shapes repeat, so it refills
 *   with the ones in use). @default 256
 * @throws SQLiteError (from `db.query`) for SQL that does not prepare.
 */
export function createStatementCache(db: Database, maxSize = 256): PreparedStatements {
  const statements = new Map<string, Statement>();
  return <T>(sql: string) => {
    let stmt = statements.get(sql);
    if (!stmt) {
      if (statements.size >= maxSize) statements.clear();
      stmt = db.query(sql);
      statements.set(sql, stmt);
    }
    return stmt as Statement<T, SQLQueryBindings[]>;
  };
}
