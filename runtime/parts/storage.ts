/**
 * The storage part: GLM's store, the embedded SQLite file `<dataDir>/glm.sqlite`, or PostgreSQL
 * shared by many nodes when `DCSM_POSTGRES_URL` is set (docs/postgres.md, docs/storage.md).
 * @module
 */
import { join } from "node:path";
import type { KemStore } from "../../services/glm/ports.ts";
import { createPostgresKemStore, type PostgresKemStore } from "../../services/glm/store/postgres-store.ts";
import { createSqliteKemStore } from "../../services/glm/store/sqlite-store.ts";
import type { DcsmConfig } from "../config.ts";
import type { Logger } from "../logger.ts";
import type { StartedPart } from "./part-stack.ts";

/** The opened store. */
export interface Storage {
  /** GLM's store. */
  store: KemStore;
  /** "postgres" or "sqlite" (for `/health` and logs). */
  kind: "postgres" | "sqlite";
  /** The PostgreSQL store when `kind` is "postgres" (its identity and change notifications). */
  postgres?: PostgresKemStore;
}

/**
 * Opens the store (creating or migrating its schema). Stopping closes it.
 * @param config - `postgresUrl`, `postgresPool`, `idempotencyTtlMs`.
 * @param dataDir - the resolved data folder (holds `glm.sqlite`).
 * @throws when PostgreSQL cannot be reached or the SQLite file cannot be opened.
 */
export async function startStorage(config: DcsmConfig, dataDir: string, log: Logger): Promise<StartedPart<Storage>> {
  if (config.postgresUrl) {
    const postgres = await createPostgresKemStore({
      url: config.postgresUrl,
      maxConnections: config.postgresPool,
      idempotencyTtlMs: config.idempotencyTtlMs,
    });
    return { value: { store: postgres, kind: "postgres", postgres }, stop: () => postgres.close() };
  }
  const store = createSqliteKemStore({
    path: join(dataDir, "glm.sqlite"),
    idempotencyTtlMs: config.idempotencyTtlMs,
    log,
    onMigrationProgress: (p) =>
      log.info(p, `migrating the GLM store from schema ${p.from} to ${p.to}: ${p.done} of ${p.total} KEMs indexed`),
  });
  return { value: { store, kind: "sqlite" }, stop: () => store.close() };
}
