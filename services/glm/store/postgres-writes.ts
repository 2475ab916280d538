/**
 * The writes of the PostgreSQL KEM store (docs/postgres.md): upserts (with idempotency keys),
 * patches, deletes and restores. Each is one transaction holding the row, its `kem_meta` entries,
 * its lexical vector, its idempotency key and its change-log entry, so a reader on any node sees
 * all of a write or none of it. Rows are written in id order, so concurrent writers lock them in
 * one order.
 * @module
 */

import type { JsonObject } from "@bufbuild/protobuf";
import type postgres from "postgres";
import { NotFoundError } from "../../common/errors.ts";
import type { KemRecord, KemWrite } from "../../common/kem-record.ts";
import { microsToIso, nowMicros } from "../../common/time.ts";
import type { KemStore } from "../ports.ts";
import { applyPatch } from "./kem-patch.ts";
import type { PostgresChangeLog } from "./postgres-change-log.ts";
import { inList, metaHashesOf, microsOf, Params } from "./postgres-filter-plan.ts";
import {
  forgetKeysOf,
  lockKeys,
  pruneExpiredKeys,
  rememberKeys,
  resolveKeys,
  scopedKey,
} from "./postgres-idempotency.ts";
import { lexicalText } from "./postgres-lexical.ts";
import { getRows, rowToRecord, scopeOf } from "./postgres-rows.ts";
import type { TransactionRunner, Tx } from "./postgres-transaction.ts";

/** Keyed items written between two prunes of expired idempotency keys. */
const KEY_PRUNE_EVERY = 10_000;

/** The write methods of the store. */
export type PostgresWrites = Pick<KemStore, "upsertMany" | "update" | "delete" | "restore">;

/** What the writes run on. */
export interface PostgresWritesOptions {
  /** The store's pool (pruning of expired keys runs outside transactions). */
  sql: postgres.Sql;
  /** The store's transaction runner. */
  tx: TransactionRunner;
  /** The store's change log; every write appends to it last. */
  changes: PostgresChangeLog;
  /** How long an idempotency key is remembered, in microseconds. */
  idempotencyTtlUs: number;
}

/** One stored item of a write: its JSON row for `jsonb_to_recordset`. */
interface WriteRow {
  id: string;
  ct: string;
  c: string;
  m: JsonObject;
  t: string;
  e: string | null;
  b: string | null;
  /** created_at to write (restore only; otherwise the row's first write time). */
  ct0?: string;
}

function vectorBase64(v: Float32Array | null): string | null {
  return v ? Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("base64") : null;
}

function writeRowOf(item: KemWrite, nowUs: number, createdUs?: number): WriteRow {
  return {
    id: item.id,
    ct: item.contentType,
    c: Buffer.from(item.content.buffer, item.content.byteOffset, item.content.byteLength).toString("base64"),
    m: item.metadata,
    t: microsToIso(nowUs),
    ...(createdUs !== undefined ? { ct0: microsToIso(createdUs) } : {}),
    e: vectorBase64(item.embedding),
    b: lexicalText(item.contentType, item.content),
  };
}

/** Replaces the `kem_meta` entries of these rows. */
async function writeMeta(t: Tx, rows: { id: string; m: JsonObject; t: string }[]): Promise<void> {
  if (rows.length === 0) return;
  const p = new Params();
  await t.unsafe(
    `DELETE FROM kem_meta WHERE ${inList(
      "id",
      rows.map((r) => r.id),
      p,
    )}`,
    p.values,
    { prepare: true },
  );
  const entries: { h: string; t: string; id: string }[] = [];
  for (const r of rows) for (const h of metaHashesOf(r.m)) entries.push({ h: h.toString(), t: r.t, id: r.id });
  if (entries.length === 0) return;
  const q = new Params();
  await t.unsafe(
    `INSERT INTO kem_meta (h, updated_at, id) SELECT x.h::int8, x.t::timestamptz, x.id
     FROM jsonb_to_recordset(${q.add(JSON.stringify(entries), "text")}::jsonb) AS x(h text, t text, id text) ON CONFLICT DO NOTHING`,
    q.values,
    { prepare: true },
  );
}

/**
 * Inserts or updates rows (sorted by id, so concurrent writers lock rows in one order).
 * @param keepCreated - keep an existing row's `created_at` (false: write the given one, restore).
 * @returns each row's `created_at` in microseconds, by id.
 */
async function upsertRows(t: Tx, rows: WriteRow[], keepCreated: boolean): Promise<Map<string, number>> {
  const p = new Params();
  rows.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const created = keepCreated ? "" : ", created_at = excluded.created_at";
  const out = await t.unsafe<{ id: string; created_us: string }[]>(
    `INSERT INTO kems AS k (id, content_type, content, metadata, created_at, updated_at, embedding, lexical)
     SELECT x.id, x.ct, decode(x.c, 'base64'), x.m, coalesce(x.ct0, x.t)::timestamptz, x.t::timestamptz, decode(x.e, 'base64'), to_tsvector('english', x.b)
     FROM jsonb_to_recordset(${p.add(JSON.stringify(rows), "text")}::jsonb) AS x(id text, ct text, c text, m jsonb, t text, ct0 text, e text, b text)
     ON CONFLICT (id) DO UPDATE SET content_type = excluded.content_type, content = excluded.content, metadata = excluded.metadata,
       updated_at = excluded.updated_at, embedding = excluded.embedding, lexical = excluded.lexical${created}
     RETURNING k.id, ${microsOf("k.created_at")} AS created_us`,
    p.values,
    { prepare: true },
  );
  await writeMeta(t, rows);
  return new Map(out.map((r) => [r.id, Number(r.created_us)]));
}

/** Deletes rows and their `kem_meta` entries. @returns the ids that existed. */
async function deleteRows(t: Tx, ids: string[]): Promise<string[]> {
  if (ids.length === 0) return [];
  const p = new Params();
  const gone = await t.unsafe<{ id: string }[]>(
    `DELETE FROM kems WHERE ${inList("id", ids, p)} RETURNING id`,
    p.values,
    { prepare: true },
  );
  if (gone.length > 0) {
    const q = new Params();
    await t.unsafe(
      `DELETE FROM kem_meta WHERE ${inList(
        "id",
        gone.map((g) => g.id),
        q,
      )}`,
      q.values,
      { prepare: true },
    );
  }
  return gone.map((g) => g.id);
}

/**
 * Upserts one run of items with distinct ids, filling `out[offset + i]` for each item `i`.
 * @returns the ids actually written (not those answered by an idempotency key).
 */
async function upsertRun(
  t: Tx,
  items: KemWrite[],
  keys: (string | undefined)[],
  out: (KemRecord | undefined)[],
  offset: number,
  ttlUs: number,
): Promise<string[]> {
  const nowUs = nowMicros();
  const { keyed, hits, claimedBy } = await resolveKeys(t, items, keys, nowUs, ttlUs);
  for (const [i, record] of hits) if (record) out[offset + i] = record;
  const rows: WriteRow[] = [];
  const stored: { i: number; us: number }[] = [];
  items.forEach((item, i) => {
    if (hits.has(i)) return;
    // Each item gets its own strictly increasing time, so a batch keeps its order by updated_at.
    const us = stored.length === 0 ? nowUs : nowMicros();
    rows.push(writeRowOf(item, us));
    stored.push({ i, us });
  });
  const createdById = await upsertRows(t, rows, true);
  for (const { i, us } of stored) {
    const item = items[i]!;
    out[offset + i] = { ...item, createdAtUs: createdById.get(item.id)!, updatedAtUs: us };
  }
  if (claimedBy.size > 0) {
    await rememberKeys(
      t,
      [...claimedBy.values()].map((i) => ({ scope: scopeOf(items[i]!.metadata), key: keys[i]!, id: items[i]!.id })),
      nowUs,
    );
    // Items whose key an earlier item of the run claimed answer with that item's record.
    for (const k of keyed) {
      if (hits.get(k.i) === null) out[offset + k.i] = out[offset + claimedBy.get(scopedKey(k.scope, k.key))!];
    }
  }
  return stored.map(({ i }) => items[i]!.id);
}

/** The write methods on the store's pool, transactions and change log. */
export function createPostgresWrites({ sql, tx, changes, idempotencyTtlUs }: PostgresWritesOptions): PostgresWrites {
  let writesSinceKeyPrune = 0;
  return {
    async upsertMany(items, keys) {
      if (items.length === 0) return [];
      const out = await tx(async (t) => {
        const out: (KemRecord | undefined)[] = new Array(items.length);
        const pairs = keys
          ? items.flatMap((item, i) => (keys[i] ? [{ scope: scopeOf(item.metadata), key: keys[i]! }] : []))
          : [];
        if (pairs.length > 0) await lockKeys(t, pairs);
        // Runs of distinct ids: a repeated id starts a new run (applied after the earlier one).
        const changed: string[] = [];
        let start = 0;
        while (start < items.length) {
          const seen = new Set<string>();
          let end = start;
          while (end < items.length && !seen.has(items[end]!.id)) seen.add(items[end++]!.id);
          changed.push(
            ...(await upsertRun(
              t,
              items.slice(start, end),
              (keys ?? []).slice(start, end),
              out,
              start,
              idempotencyTtlUs,
            )),
          );
          start = end;
        }
        await changes.append(t, changed);
        return out as KemRecord[];
      });
      if (keys) {
        writesSinceKeyPrune += items.length;
        if (writesSinceKeyPrune >= KEY_PRUNE_EVERY) {
          writesSinceKeyPrune = 0;
          await pruneExpiredKeys(sql, idempotencyTtlUs);
        }
      }
      return out;
    },
    async update(id, patch) {
      return tx(async (t) => {
        const row = (await getRows(t, [id], true)).get(id);
        if (!row) throw new NotFoundError(`KEM ${id} not found`);
        const cur = rowToRecord(row);
        const next = applyPatch(cur, patch);
        await upsertRows(t, [writeRowOf(next, next.updatedAtUs)], true);
        await changes.append(t, [id]);
        return next;
      });
    },
    async delete(id) {
      return tx(async (t) => {
        const gone = await deleteRows(t, [id]);
        if (gone.length === 0) return false;
        await forgetKeysOf(t, id);
        await changes.append(t, [id]);
        return true;
      });
    },
    async restore(records, removeIds) {
      await tx(async (t) => {
        const rows = records.map((r) => writeRowOf(r, r.updatedAtUs, r.createdAtUs));
        // Put back exactly as given: created_at too.
        if (rows.length > 0) await upsertRows(t, rows, false);
        const gone = await deleteRows(t, removeIds);
        await changes.append(t, [...records.map((r) => r.id), ...gone]);
      });
    },
  };
}
