/**
 * GLM's durable KEM store on PostgreSQL (docs/postgres.md), for many stateless DCSM nodes sharing
 * one database. The same {@link KemStore} semantics as the SQLite store (docs/storage.md):
 *
 * - every write is one transaction: the row, its `kem_meta` entries, its lexical vector, its
 *   idempotency key and its change-log entry (`postgres-writes.ts`);
 * - idempotency keys are scoped by namespace and expire; a transaction-scoped advisory lock per
 *   (namespace, key) makes two nodes storing under the same key at once store one KEM
 *   (`postgres-idempotency.ts`);
 * - the change log is appended under one advisory lock taken just before commit, so sequence
 *   numbers become visible in increasing order, and every write transaction sends
 *   `NOTIFY dcsm_glm_changes`; `dataVersion()` changes exactly when another store instance
 *   appended to it, and {@link PostgresKemStore.onChange} wakes a node on other nodes' writes
 *   (`postgres-change-log.ts`);
 * - filters are planned by `postgres-filter-plan.ts` (`postgres-reads.ts`); lexical search ranks
 *   with `ts_rank_cd` (`postgres-lexical.ts`).
 *
 * Deadlocks (40P01) and serialization failures (40001) are retried (the whole transaction, at
 * most {@link TX_RETRIES} times, `postgres-transaction.ts`); text PostgreSQL cannot hold (U+0000
 * in metadata) is an `InvalidInputError`; a server that cannot be reached or drops the connection
 * is a `BackendUnavailableError` (→ `Unavailable`: a write whose commit was cut off may or may not
 * have been applied, and is safe to retry with its idempotency key; `postgres-errors.ts`).
 *
 * This module assembles those parts; it is the store's public entry.
 * @module
 */
import postgres from "postgres";
import { GLM_DEFAULTS } from "../../common/defaults.ts";
import type { KemStore } from "../ports.ts";
import { createPostgresChangeLog } from "./postgres-change-log.ts";
import { guardUnavailable } from "./postgres-errors.ts";
import { createPostgresLexicalSearch } from "./postgres-lexical.ts";
import { createPostgresReads } from "./postgres-reads.ts";
import { migratePostgresSchema } from "./postgres-schema.ts";
import { createTransactionRunner } from "./postgres-transaction.ts";
import { createPostgresWrites } from "./postgres-writes.ts";

export { CHANGE_CHANNEL } from "./postgres-change-log.ts";
export { isUnavailableError } from "./postgres-errors.ts";
export { MAX_LEXICAL_CHARS, toTsQuery } from "./postgres-lexical.ts";
export { TX_RETRIES } from "./postgres-transaction.ts";

/** Options of {@link createPostgresKemStore}. */
export interface PostgresKemStoreOptions {
  /** Connection URL, `postgres://user[:password]@host[:port]/database` (`DCSM_POSTGRES_URL`). */
  url: string;
  /** Most connections in this node's pool. @default 10 */
  maxConnections?: number;
  /** How long an idempotency key is remembered, in ms. @default 86400000 (24 h) */
  idempotencyTtlMs?: number;
  /** Longest wait for a new connection, in seconds. @default 5 */
  connectTimeoutS?: number;
}

/** A {@link KemStore} on PostgreSQL, with change notifications from other nodes. */
export interface PostgresKemStore extends KemStore {
  /** Random identity of this database's GLM data (`dcsm_schema.store_id`), stable across restarts. */
  readonly storeId: string;
  /**
   * Calls `fn` whenever any node (this one included) commits a write, and after every
   * (re)connection of the listening connection (notifications sent while it was down are lost,
   * so callers catch up then). Delivery is asynchronous; correctness never depends on it.
   * @returns a function that stops listening.
   */
  onChange(fn: () => void): Promise<() => Promise<void>>;
}

/**
 * Connects, creates or migrates the schema, and returns the store.
 * @param options - URL, pool size, idempotency key lifetime.
 * @throws driver errors (ECONNREFUSED, authentication, missing database) and the migration's.
 */
export async function createPostgresKemStore(options: PostgresKemStoreOptions): Promise<PostgresKemStore> {
  const sql = postgres(options.url, {
    max: options.maxConnections ?? 10,
    connect_timeout: options.connectTimeoutS ?? 5,
    onnotice: () => {},
    // `bigint` columns are returned as strings and converted where read.
    connection: { application_name: "dcsm-glm" },
  });
  let storeId: string;
  try {
    storeId = await migratePostgresSchema(sql);
  } catch (err) {
    await sql.end({ timeout: 1 });
    throw err;
  }
  const idempotencyTtlUs = (options.idempotencyTtlMs ?? GLM_DEFAULTS.idempotencyTtlMs) * 1000;
  const changes = await createPostgresChangeLog(sql);
  const tx = createTransactionRunner(sql, changes.noteOwn);
  const store: PostgresKemStore = {
    storeId,
    ...createPostgresWrites({ sql, tx, changes, idempotencyTtlUs }),
    ...createPostgresReads(sql),
    lexicalSearch: createPostgresLexicalSearch(sql),
    changesSince: changes.changesSince,
    latestChangeSeq: changes.latestChangeSeq,
    oldestChangeSeq: changes.oldestChangeSeq,
    pruneChanges: changes.pruneChanges,
    dataVersion: changes.dataVersion,
    onChange: changes.onChange,
    close: async () => sql.end({ timeout: 5 }),
  };
  return guardUnavailable(store);
}
