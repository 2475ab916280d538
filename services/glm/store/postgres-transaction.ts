/**
 * Write transactions of the PostgreSQL KEM store (docs/postgres.md): each runs whole in one
 * PostgreSQL transaction and is retried from the start on deadlock (40P01) or serialization
 * failure (40001), at most {@link TX_RETRIES} times with a growing, jittered pause. Statements
 * append the change-log ranges they wrote to {@link Tx.appended}; those ranges are reported once
 * the transaction has committed (a rolled-back attempt reports nothing).
 * @module
 */
import type postgres from "postgres";
import { invalidInputOf } from "./postgres-errors.ts";

/** Whole-transaction retries on deadlock or serialization failure. */
export const TX_RETRIES = 5;

/** A change-log range `[lo, hi]` of sequence numbers, both included. */
export type SeqRange = [number, number];

/** A transaction of the store: the driver's, plus the change-log ranges it appended. */
export type Tx = postgres.TransactionSql & { appended: SeqRange[] };

/** Runs `fn` in a transaction, retried as described above; returns what `fn` returned. */
export type TransactionRunner = <T>(fn: (t: Tx) => Promise<T>) => Promise<T>;

/**
 * A transaction runner on `sql`.
 * @param onCommit - told the change-log ranges of every committed transaction (in append order).
 * @returns the runner; it throws `InvalidInputError` for text or sizes PostgreSQL cannot hold
 *   (`postgres-errors.ts`), a retryable failure after the last retry, and any other error as is.
 */
export function createTransactionRunner(
  sql: postgres.Sql,
  onCommit: (appended: SeqRange[]) => void,
): TransactionRunner {
  return async <T>(fn: (t: Tx) => Promise<T>): Promise<T> => {
    for (let attempt = 0; ; attempt++) {
      const appended: SeqRange[] = [];
      try {
        const out = (await sql.begin((t) => fn(Object.assign(t, { appended })))) as T;
        onCommit(appended);
        return out;
      } catch (err) {
        const code = (err as { code?: unknown }).code;
        if ((code === "40P01" || code === "40001") && attempt < TX_RETRIES) {
          await Bun.sleep(5 * 2 ** attempt + Math.random() * 5);
          continue;
        }
        throw invalidInputOf(err) ?? err;
      }
    }
  };
}
