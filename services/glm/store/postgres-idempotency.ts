/**
 * Idempotency keys of the PostgreSQL KEM store (`idempotency_keys`; semantics in docs/storage.md
 * "Idempotency keys", shared with the SQLite store): a key is scoped by the namespace of the KEM
 * written under it and remembered for a lifetime (the TTL); a write repeated under a live key
 * returns the KEM stored the first time instead of storing again, unless that KEM has since moved
 * to another namespace. Two nodes writing under the same key at once store one KEM: each batch
 * takes transaction-scoped advisory locks on its (scope, key) pairs, in one global order, before
 * looking keys up (docs/postgres.md).
 * @module
 */
import type postgres from "postgres";
import type { KemRecord, KemWrite } from "../../common/kem-record.ts";
import { microsToIso, nowMicros } from "../../common/time.ts";
import { Params } from "./postgres-filter-plan.ts";
import { getRows, rowToRecord, scopeOf } from "./postgres-rows.ts";
import type { Tx } from "./postgres-transaction.ts";

/** A key of one item of a write: the item's index in its run, its scope and the key. */
export interface ScopedKey {
  i: number;
  scope: string;
  key: string;
}

/** What the keys of one run of items resolve to (see {@link resolveKeys}). */
export interface KeyResolution {
  /** The items that carry a key. */
  keyed: ScopedKey[];
  /**
   * Items not to store, by index: the record stored earlier under a live key, or null when an
   * earlier item of the same run claimed the key (the item then answers with that item's record).
   */
  hits: Map<number, KemRecord | null>;
  /** `scope\0key` → index of the item that stores under it (first of the run to carry it). */
  claimedBy: Map<string, number>;
}

/** The map key of a (scope, key) pair. */
export function scopedKey(scope: string, key: string): string {
  return `${scope}\u0000${key}`;
}

/** Locks the (scope, key) pairs of a batch in one global order (no deadlock between batches). */
export async function lockKeys(t: Tx, pairs: { scope: string; key: string }[]): Promise<void> {
  const hashes = [...new Set(pairs.map((k) => BigInt.asIntN(64, Bun.hash.wyhash(scopedKey(k.scope, k.key)))))].sort(
    (a, b) => (a < b ? -1 : a > b ? 1 : 0),
  );
  const p = new Params();
  await t.unsafe(
    `SELECT count(pg_advisory_xact_lock(s.h)) FROM (SELECT a.h::int8 AS h FROM jsonb_array_elements_text(${p.add(JSON.stringify(hashes.map(String)), "text")}::jsonb) WITH ORDINALITY AS a(h, o) ORDER BY a.o) s`,
    p.values,
    { prepare: true },
  );
}

/**
 * Looks up the keys of a run of items (their locks already held): keys used in their scope within
 * the TTL, for a KEM still there and still in that scope, are hits; the first item of the run
 * with any other key claims it.
 * @param keys - the key of each item, undefined for none.
 * @param nowUs - the write's time, microseconds since epoch; keys older than `nowUs - ttlUs` are dead.
 */
export async function resolveKeys(
  t: Tx,
  items: KemWrite[],
  keys: (string | undefined)[],
  nowUs: number,
  ttlUs: number,
): Promise<KeyResolution> {
  const keyed: ScopedKey[] = [];
  items.forEach((item, i) => {
    const key = keys[i];
    if (key) keyed.push({ i, scope: scopeOf(item.metadata), key });
  });
  const hits = new Map<number, KemRecord | null>();
  const claimedBy = new Map<string, number>();
  if (keyed.length === 0) return { keyed, hits, claimedBy };
  const p = new Params();
  const prior = await t.unsafe<{ scope: string; key: string; kem_id: string }[]>(
    `SELECT i.scope, i.key, i.kem_id FROM idempotency_keys i
     JOIN jsonb_to_recordset(${p.add(JSON.stringify(keyed.map((k) => ({ s: k.scope, k: k.key }))), "text")}::jsonb) AS x(s text, k text) ON i.scope = x.s AND i.key = x.k
     WHERE i.created_at >= ${p.add(microsToIso(nowUs - ttlUs), "timestamptz")}`,
    p.values,
    { prepare: true },
  );
  const priorRows = await getRows(t, [...new Set(prior.map((r) => r.kem_id))]);
  const live = new Map<string, string>();
  for (const r of prior) {
    const row = priorRows.get(r.kem_id);
    // A KEM moved to another namespace since is not this scope's to return.
    if (row && scopeOf(row.metadata) === r.scope) live.set(scopedKey(r.scope, r.key), r.kem_id);
  }
  for (const k of keyed) {
    const sk = scopedKey(k.scope, k.key);
    const hit = live.get(sk);
    if (hit !== undefined) hits.set(k.i, rowToRecord(priorRows.get(hit)!));
    else if (claimedBy.has(sk)) hits.set(k.i, null);
    else claimedBy.set(sk, k.i);
  }
  return { keyed, hits, claimedBy };
}

/** Records keys for the KEMs stored under them, at `nowUs` (replacing dead entries of the same key). */
export async function rememberKeys(
  t: Tx,
  entries: { scope: string; key: string; id: string }[],
  nowUs: number,
): Promise<void> {
  if (entries.length === 0) return;
  const p = new Params();
  await t.unsafe(
    `INSERT INTO idempotency_keys (scope, key, kem_id, created_at)
     SELECT x.s, x.k, x.id, ${p.add(microsToIso(nowUs), "timestamptz")} FROM jsonb_to_recordset(${p.add(JSON.stringify(entries.map((e) => ({ s: e.scope, k: e.key, id: e.id }))), "text")}::jsonb) AS x(s text, k text, id text)
     ON CONFLICT (scope, key) DO UPDATE SET kem_id = excluded.kem_id, created_at = excluded.created_at`,
    p.values,
    { prepare: true },
  );
}

/** Forgets the keys naming a deleted KEM. */
export async function forgetKeysOf(t: Tx, id: string): Promise<void> {
  await t`DELETE FROM idempotency_keys WHERE kem_id = ${id}`;
}

/** Deletes the keys older than the TTL (the lookup already ignores them; this bounds the table). */
export async function pruneExpiredKeys(sql: postgres.Sql, ttlUs: number): Promise<void> {
  await sql`DELETE FROM idempotency_keys WHERE created_at < ${microsToIso(nowMicros() - ttlUs)}::text::timestamptz`;
}
