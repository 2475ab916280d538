/**
 * A real GLM for SWM tests: the GLM service from services/glm on a real SQLite file (exact vector
 * index, no model), reachable in-process (router transport) or over a real socket (Connect on
 * `Bun.serve`), optionally on a chosen port so a test can start it late ("GLM down, then up");
 * and the GLM store backends a test runs its cases on.
 */
import { join } from "node:path";
import type { Transport } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { createConnectApp } from "../../runtime/host/connect-app.ts";
import { GlobalLongTermMemoryService } from "../../sdk/gen/dcsm/v1/glm_service_pb.ts";
import { DEFAULT_KEM_LIMITS, type KemLimits } from "../../services/common/limits.ts";
import { assembleGlm } from "../../services/glm/assembly.ts";
import type { KemStore } from "../../services/glm/ports.ts";
import { createPostgresKemStore } from "../../services/glm/store/postgres-store.ts";
import { createSqliteKemStore } from "../../services/glm/store/sqlite-store.ts";
import { createExactVectorIndex } from "../../services/glm/vector/exact-index.ts";
import type { TestPostgres } from "./postgres.ts";
import { tempDir } from "./temp-dir.ts";

/** A test GLM. */
export interface TestGlm {
  /** Its SQLite store (for assertions). */
  store: KemStore;
  /** Path of the SQLite file. */
  path: string;
  /** In-process transport. */
  transport: Transport;
  /** Serves GLM over Connect on `port` (0 = any); returns its URL and a stop function. */
  serve(port?: number): { url: string; port: number; stop(): Promise<void> };
  /** Closes the store. */
  close(): void;
}

/** Limits for tests: small vectors. */
export function testLimits(dimension = 8): KemLimits {
  return { ...DEFAULT_KEM_LIMITS, dimension };
}

/**
 * Creates a GLM on `<dir>/glm.sqlite`.
 * @param dir - folder for the SQLite file.
 * @param limits - limits (dimension must match the KEMs used).
 */
export function createTestGlm(dir: string, limits: KemLimits = testLimits()): TestGlm {
  const path = join(dir, "glm.sqlite");
  const store = createSqliteKemStore({ path });
  const { service: impl, transport } = assembleGlm({
    store,
    index: createExactVectorIndex({ dimension: limits.dimension }),
    limits,
  });
  return {
    store,
    path,
    transport,
    serve(port = 0) {
      const app = createConnectApp({
        routes: (r) => r.service(GlobalLongTermMemoryService, impl),
        readMaxBytes: 16 * 1024 * 1024,
      });
      const server = Bun.serve({ hostname: "127.0.0.1", port, fetch: app.fetch });
      return { url: `http://127.0.0.1:${server.port}`, port: server.port!, stop: () => server.stop(true) };
    },
    close: () => void store.close(),
  };
}

/** A Connect client transport to a GLM URL (fails with `Unavailable` while nothing listens). */
export function glmClientTransport(url: string): Transport {
  return createConnectTransport({ baseUrl: url, httpVersion: "1.1", useBinaryFormat: true });
}

/** A GLM store backend a test can open fresh stores on. */
export interface StoreBackend {
  /** "SQLite" or "PostgreSQL", for test names. */
  name: string;
  /** Opens a new, empty store (a new SQLite file, or a new PostgreSQL database with 3 connections). */
  open(): Promise<KemStore>;
}

/** The GLM store backends: SQLite always, PostgreSQL when `pg` (a reachable server) is given. */
export function storeBackends(pg: TestPostgres | undefined): StoreBackend[] {
  const backends: StoreBackend[] = [
    { name: "SQLite", open: async () => createSqliteKemStore({ path: join(tempDir(), "glm.sqlite") }) },
  ];
  if (pg)
    backends.push({
      name: "PostgreSQL",
      open: async () => createPostgresKemStore({ url: (await pg.createDatabase()).url, maxConnections: 3 }),
    });
  return backends;
}
