/**
 * Idempotency keys of the SQLite KEM store (`idempotency_keys`; semantics in docs/storage.md
 * "Idempotency keys", shared with the PostgreSQL store): a key is scoped by the namespace of the
 * KEM written under it and remembered for a lifetime (the TTL); a write repeated under a live key
 * returns the KEM stored the first time instead of storing again, unless that KEM has since moved
 * to another namespace. Expired keys are pruned every 10,000 keyed writes. Every call runs inside
 * the store's write transaction.
 * @module
 */
import type { Database } from "bun:sqlite";
import type { JsonObject } from "@bufbuild/protobuf";
import { NAMESPACE_KEY } from "../../common/access.ts";
import { isoToMicros, microsToIso, nowMicros } from "../../common/time.ts";
import type { Row } from "./sqlite-rows.ts";

/** Keyed writes between two prunings of expired keys. */
const PRUNE_EVERY_WRITES = 10_000;

/** The idempotency scope of a KEM: its namespace, "" when it has none. */
export function scopeOf(metadata: JsonObject): string {
  const ns = metadata[NAMESPACE_KEY];
  return typeof ns === "string" ? ns : "";
}

/** The idempotency keys of one store connection. */
export interface SqliteIdempotencyKeys {
  /** The live KEM row the key names in `scope` at `nowUs` (µs), if any. */
  hit(scope: string, key: string, nowUs: number): Row | null;
  /** Remembers (or replaces) the key in `scope` as naming `kemId`, written at `nowIso`. */
  remember(scope: string, key: string, kemId: string, nowIso: string): void;
  /** Forgets every key naming `kemId` (the KEM was deleted). */
  forget(kemId: string): void;
  /** Counts `n` keyed writes; prunes expired keys every {@link PRUNE_EVERY_WRITES}. */
  wrote(n: number): void;
}

/**
 * The idempotency keys of the store on `db`.
 * @param ttlUs - key lifetime, µs.
 * @param getRow - the `kems` row of an id, or null.
 */
export function sqliteIdempotencyKeys(
  db: Database,
  ttlUs: number,
  getRow: (id: string) => Row | null,
): SqliteIdempotencyKeys {
  const idemGet = db.query<{ kem_id: string; created_at: string }, [string, string]>(
    "SELECT kem_id, created_at FROM idempotency_keys WHERE scope = ? AND key = ?",
  );
  const idemPut = db.query<unknown, [string, string, string, string]>(
    "INSERT OR REPLACE INTO idempotency_keys (scope, key, kem_id, created_at) VALUES (?, ?, ?, ?)",
  );
  const idemDeleteFor = db.query<unknown, [string]>("DELETE FROM idempotency_keys WHERE kem_id = ?");
  const idemPrune = db.query<unknown, [string]>("DELETE FROM idempotency_keys WHERE created_at < ?");
  let writesSinceKeyPrune = 0;
  return {
    hit(scope, key, nowUs) {
      const prior = idemGet.get(scope, key);
      if (!prior || isoToMicros(prior.created_at) < nowUs - ttlUs) return null;
      const row = getRow(prior.kem_id);
      // A KEM moved to another namespace since is not this scope's to return.
      return row && scopeOf(JSON.parse(row.metadata) as JsonObject) === scope ? row : null;
    },
    remember(scope, key, kemId, nowIso) {
      idemPut.run(scope, key, kemId, nowIso);
    },
    forget(kemId) {
      idemDeleteFor.run(kemId);
    },
    wrote(n) {
      writesSinceKeyPrune += n;
      if (writesSinceKeyPrune >= PRUNE_EVERY_WRITES) {
        writesSinceKeyPrune = 0;
        idemPrune.run(microsToIso(nowMicros() - ttlUs));
      }
    },
  };
}
