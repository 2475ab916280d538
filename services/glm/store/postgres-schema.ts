/**
 * The GLM PostgreSQL schema and its migrations (docs/postgres.md "Schema"), versioned in table
 * `dcsm_schema` (one row per component; GLM's is `glm`). Every DCSM node runs
 * {@link migratePostgresSchema} at start-up; a transaction-scoped advisory lock makes nodes that
 * start together migrate once, and a node never opens a database written by a newer DCSM.
 *
 * `dcsm_schema.store_id` is a random identity of the GLM data, created with the schema: a node
 * keys its vector index snapshot by it (a snapshot of another database is never restored).
 *
 * Version 1:
 * - `kems`: one row per KEM, `metadata jsonb`, microsecond `timestamptz` times, the embedding as a
 *   `bytea` of little-endian float32, and `lexical` (`tsvector`, english configuration) for text-like
 *   KEMs, indexed by GIN;
 * - `kem_meta`: one entry per top-level scalar metadata value, keyed by a 64-bit hash of the typed
 *   `(key, value)` pair then `(updated_at, id)`, so a metadata-equality page is an ordered index
 *   walk (chosen over a GIN `jsonb_path_ops` index by measurement, docs/postgres.md);
 * - `kem_changes`: the change log other nodes' vector indexes follow;
 * - `idempotency_keys`: namespace-scoped, expiring.
 * @module
 */
import type { Sql } from "postgres";

/** The schema version this code writes. */
export const PG_SCHEMA_VERSION = 1;

/** Advisory lock key (two int4) held while migrating: "DCSM", 1. */
const MIGRATION_LOCK = [0x4443534d, 1] as const;

const V1 = `
CREATE TABLE kems (
  id text PRIMARY KEY,
  content_type text NOT NULL,
  content bytea NOT NULL,
  metadata jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  embedding bytea,
  lexical tsvector
);
CREATE INDEX kems_created_at ON kems (created_at);
CREATE INDEX kems_updated_at ON kems (updated_at, id);
CREATE INDEX kems_lexical ON kems USING gin (lexical);
CREATE TABLE kem_meta (
  h bigint NOT NULL,
  updated_at timestamptz NOT NULL,
  id text NOT NULL,
  PRIMARY KEY (h, updated_at, id)
);
CREATE INDEX kem_meta_id ON kem_meta (id);
CREATE TABLE kem_changes (
  seq bigserial PRIMARY KEY,
  kem_id text NOT NULL
);
CREATE TABLE idempotency_keys (
  scope text NOT NULL,
  key text NOT NULL,
  kem_id text NOT NULL,
  created_at timestamptz NOT NULL,
  PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_kem ON idempotency_keys (kem_id);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
`;

/**
 * Brings the database to {@link PG_SCHEMA_VERSION} in one transaction (DDL is transactional in
 * PostgreSQL: a failed migration leaves the previous version intact).
 * @param sql - a connection pool to the GLM database.
 * @returns the store identity (`dcsm_schema.store_id` of GLM).
 * @throws Error when the database was written by a newer DCSM; driver errors (connection refused,
 *   permission denied to create tables) propagate.
 */
export async function migratePostgresSchema(sql: Sql): Promise<string> {
  return sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK[0]}::int4, ${MIGRATION_LOCK[1]}::int4)`;
    // store_id: a random identity of this database's GLM data (created once), so a node's vector
    // index snapshot is only ever restored against the data it was built from.
    await tx.unsafe(
      "CREATE TABLE IF NOT EXISTS dcsm_schema (component text PRIMARY KEY, version integer NOT NULL, migrated_at timestamptz NOT NULL DEFAULT now(), store_id uuid NOT NULL DEFAULT gen_random_uuid())",
    );
    const [row] = await tx<
      { version: number; store_id: string }[]
    >`SELECT version, store_id::text FROM dcsm_schema WHERE component = 'glm'`;
    const version = row?.version ?? 0;
    if (version === PG_SCHEMA_VERSION) return row!.store_id;
    if (version > PG_SCHEMA_VERSION) {
      throw new Error(
        `the GLM PostgreSQL database has schema version ${version}, newer than this DCSM understands (${PG_SCHEMA_VERSION})`,
      );
    }
    if (version < 1) await tx.unsafe(V1);
    const [done] = await tx<
      { store_id: string }[]
    >`INSERT INTO dcsm_schema (component, version) VALUES ('glm', ${PG_SCHEMA_VERSION})
             ON CONFLICT (component) DO UPDATE SET version = excluded.version, migrated_at = now() RETURNING store_id::text`;
    return done!.store_id;
  });
}
