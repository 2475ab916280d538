/**
 * A real PostgreSQL for tests: the server at `DCSM_TEST_POSTGRES_URL` (default
 * postgres://postgres@127.0.0.1:5432/postgres, trust auth), on which each test file creates its own
 * databases with random names and drops them afterwards. When no server answers, PostgreSQL tests
 * are skipped with a message — unless `DCSM_REQUIRE_POSTGRES=1` (set by .ci/run), then they fail.
 */
import postgres from "postgres";

/** The admin URL tests connect to. */
export const TEST_POSTGRES_URL = process.env.DCSM_TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

/** A throw-away database. */
export interface TestDatabase {
  /** Its connection URL. */
  url: string;
  /** Drops it (closing other connections to it first). */
  drop(): Promise<void>;
}

/** A reachable PostgreSQL server for tests. */
export interface TestPostgres {
  /** Creates an empty database with a random name. */
  createDatabase(): Promise<TestDatabase>;
  /** Drops every database this helper created and closes the admin connection. */
  close(): Promise<void>;
}

/**
 * Connects to the test server.
 * @returns the server, or undefined (with a warning naming the URL) when it cannot be reached and
 *   `DCSM_REQUIRE_POSTGRES` is not set.
 * @throws Error when unreachable and `DCSM_REQUIRE_POSTGRES=1`.
 */
export async function testPostgres(): Promise<TestPostgres | undefined> {
  const admin = postgres(TEST_POSTGRES_URL, { max: 2, onnotice: () => {}, connect_timeout: 3 });
  try {
    await admin`SELECT 1`;
  } catch (err) {
    await admin.end({ timeout: 1 }).catch(() => {});
    const msg = `PostgreSQL not reachable at ${TEST_POSTGRES_URL} (${(err as Error).message})`;
    if (process.env.DCSM_REQUIRE_POSTGRES === "1") throw new Error(`${msg}; DCSM_REQUIRE_POSTGRES=1`);
    console.warn(
      `SKIPPING PostgreSQL tests: ${msg}. Set DCSM_TEST_POSTGRES_URL to a server (trust or password auth) to run them.`,
    );
    return undefined;
  }
  const made = new Set<string>();
  const dropDb = async (name: string) => {
    made.delete(name);
    await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  };
  return {
    async createDatabase() {
      const name = `dcsm_test_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
      await admin.unsafe(`CREATE DATABASE ${name}`);
      made.add(name);
      const url = new URL(TEST_POSTGRES_URL);
      url.pathname = `/${name}`;
      return { url: url.toString(), drop: () => dropDb(name) };
    },
    async close() {
      for (const name of [...made]) await dropDb(name);
      await admin.end({ timeout: 5 });
    },
  };
}
