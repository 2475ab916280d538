/**
 * GLM's durable KEM store on PostgreSQL (docs/postgres.md), for many stateless DCSM nodes sharing
 * one database. The same {@link KemStore} semantics as the SQLite store (docs/storage.md):
 *
 * - every write is one transaction: the row, its `kem_meta` entries, its lexical vector, its
 *   idempotency key and its change-log entry;
 * - idempotency keys are scoped by namespace and expire; a transaction-scoped advisory lock per
 *   (namespace, key) makes two nodes storing under the same key at once store one KEM;
 * - the change log is appended under one advisory lock taken just before commit, so sequence
 *   numbers become visible in increasing order (a reader never skips an entry that commits later
 *   with a smaller number), and every write transaction sends `NOTIFY dcsm_glm_changes`;
 * - `dataVersion()` changes exactly when another store instance (another node, or another
 *   connection pool of this process) appended to the change log, like SQLite's
 *   `PRAGMA data_version`; {@link PostgresKemStore.onChange} wakes a node on other nodes' writes.
 *
 * Deadlocks (40P01) and serialization failures (40001) are retried (the whole transaction, at
 * most {@link TX_RETRIES} times); text PostgreSQL cannot hold (U+0000 in metadata) is an
 * `InvalidInputError`; a server that cannot be reached or drops the connection is a
 * `BackendUnavailableError` (→ `Unavailable`: a write whose commit was cut off may or may not have
 * been applied, and is safe to retry with its idempotency key).
 * @module
 */
import postgres from "postgres";
import type { JsonObject } from "@bufbuild/protobuf";
import { NAMESPACE_KEY } from "../../shared/access.ts";
import { BackendUnavailableError, InvalidInputError, NotFoundError } from "../../shared/errors.ts";
import { microsToIso, nowMicros } from "../../shared/time.ts";
import { MAX_QUERY_TERMS, queryWords, STOPWORDS, lexicalBodyOf } from "../lexical/lexical-text.ts";
import type { KemFilter, KemRecord, KemStore, KemWrite, LexicalHit } from "../ports.ts";
import { applyPatch } from "./kem-patch.ts";
import { blobToVector } from "./vector-bytes.ts";
import { chooseMetaDriver, conditionsOf, idsQuery, inList, metaHashesOf, microsOf, pageQuery, Params, PG_ESTIMATE_CAP, ROW_COLUMNS } from "./postgres-filter-plan.ts";
import { migratePostgresSchema } from "./postgres-schema.ts";
import { GLM_DEFAULTS } from "../../shared/defaults.ts";

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

/** Whole-transaction retries on deadlock or serialization failure. */
export const TX_RETRIES = 5;

/** The notification channel of change-log appends. */
export const CHANGE_CHANNEL = "dcsm_glm_changes";

/**
 * Most characters of a KEM's text given to `to_tsvector`; the text after it is not searchable
 * lexically (docs/postgres.md "Lexical index"). A `tsvector` holds under 1 MiB of lexemes and
 * positions, about 8 bytes per distinct one-character word (e.g. CJK ideographs between spaces),
 * so 131,072 characters (at most 65,536 such words) always fit.
 */
export const MAX_LEXICAL_CHARS = 131_072;

/** Advisory lock (two int4) serializing change-log appends: "DCSM", 2. */
const CHANGE_LOCK = "1145258829, 2";

interface Row {
  id: string;
  content_type: string;
  content: Uint8Array;
  metadata: JsonObject;
  created_us: string;
  updated_us: string;
  embedding: Uint8Array | null;
}

type Tx = postgres.TransactionSql;

function vectorBase64(v: Float32Array | null): string | null {
  return v ? Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("base64") : null;
}

function rowToRecord(r: Row): KemRecord {
  return {
    id: r.id,
    contentType: r.content_type,
    content: new Uint8Array(r.content.buffer, r.content.byteOffset, r.content.byteLength),
    metadata: r.metadata,
    embedding: r.embedding ? blobToVector(r.embedding) : null,
    createdAtUs: Number(r.created_us),
    updatedAtUs: Number(r.updated_us),
  };
}

function scopeOf(metadata: JsonObject): string {
  const ns = metadata[NAMESPACE_KEY];
  return typeof ns === "string" ? ns : "";
}

/** The text indexed lexically, or null for content that is not text-like. */
function lexicalText(contentType: string, content: Uint8Array): string | null {
  const body = lexicalBodyOf(contentType, content);
  if (body === undefined) return null;
  // PostgreSQL text cannot hold U+0000.
  return body.slice(0, MAX_LEXICAL_CHARS).replaceAll("\u0000", " ");
}

/**
 * A free-text query as a `to_tsquery` expression: the distinct non-stopword words (all words when
 * every one is a stopword), at most `MAX_QUERY_TERMS`, OR-ed — the words of the SQLite store's
 * FTS5 query (lexical-text.ts). Words are letters and digits only, so no tsquery operator survives.
 */
export function toTsQuery(text: string): string | undefined {
  const words = [...new Set(queryWords(text))];
  if (words.length === 0) return undefined;
  const content = words.filter((w) => !STOPWORDS.has(w));
  return (content.length > 0 ? content : words)
    .slice(0, MAX_QUERY_TERMS)
    .map((w) => `'${w}'`)
    .join(" | ");
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

  // Change-log positions this instance appended (committed), as [lo, hi] ranges, for dataVersion().
  const own: [number, number][] = [];
  let scannedTo = Number((await sql<{ s: string }[]>`SELECT coalesce(max(seq), 0)::int8 AS s FROM kem_changes`)[0]!.s);
  let version = 0;
  let versionCheck: Promise<number> | null = null;
  let writesSinceKeyPrune = 0;

  /**
   * Remembers committed own change-log ranges, merging contiguous ones. Bounded: when nobody calls
   * dataVersion() (an external vector index), the oldest are forgotten, which can only make a
   * later check report a change that was ours (a needless catch-up), never hide another's.
   */
  function noteOwn(ranges: [number, number][]): void {
    for (const [lo, hi] of ranges) {
      const last = own[own.length - 1];
      if (last && last[1] + 1 === lo) last[1] = hi;
      else own.push([lo, hi]);
    }
    if (own.length > 4096) own.splice(0, own.length - 2048);
  }

  async function tx<T>(fn: (t: Tx) => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const appended: [number, number][] = [];
      try {
        const out = (await sql.begin((t) => fn(Object.assign(t, { appended })))) as T;
        noteOwn(appended);
        return out;
      } catch (err) {
        const code = (err as { code?: unknown }).code;
        if ((code === "40P01" || code === "40001") && attempt < TX_RETRIES) {
          await Bun.sleep(5 * 2 ** attempt + Math.random() * 5);
          continue;
        }
        if (code === "22P05" || code === "22021") throw new InvalidInputError(`text PostgreSQL cannot store (such as U+0000 in metadata): ${(err as Error).message}`, { cause: err });
        if (code === "54000") throw new InvalidInputError(`a KEM exceeds a PostgreSQL limit: ${(err as Error).message}`, { cause: err });
        throw err;
      }
    }
  }

  /** Appends change-log entries for `ids` (last statement before commit) and notifies listeners. */
  async function logChanges(t: Tx, ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    await t.unsafe(`SELECT pg_advisory_xact_lock(${CHANGE_LOCK})`);
    const p = new Params();
    const [r] = await t.unsafe<{ lo: string; hi: string }[]>(
      `WITH ins AS (INSERT INTO kem_changes (kem_id) SELECT jsonb_array_elements_text(${p.add(JSON.stringify(ids), "text")}::jsonb) RETURNING seq)
       SELECT min(seq)::int8 AS lo, max(seq)::int8 AS hi FROM ins`,
      p.values,
      { prepare: true },
    );
    await t.unsafe(`SELECT pg_notify('${CHANGE_CHANNEL}', $1::text)`, [r!.hi], { prepare: true });
    (t as Tx & { appended: [number, number][] }).appended.push([Number(r!.lo), Number(r!.hi)]);
  }

  async function getRows(q: Tx | postgres.Sql, ids: string[], lock = false): Promise<Map<string, Row>> {
    if (ids.length === 0) return new Map();
    const p = new Params();
    const rows = await q.unsafe<Row[]>(`SELECT ${ROW_COLUMNS} FROM kems k WHERE ${inList("k.id", ids, p)}${lock ? " ORDER BY k.id FOR UPDATE" : ""}`, p.values, { prepare: true });
    return new Map(rows.map((r) => [r.id, r]));
  }

  /** Replaces the `kem_meta` entries of these rows. */
  async function writeMeta(t: Tx, rows: { id: string; m: JsonObject; t: string }[]): Promise<void> {
    if (rows.length === 0) return;
    const p = new Params();
    await t.unsafe(`DELETE FROM kem_meta WHERE ${inList("id", rows.map((r) => r.id), p)}`, p.values, { prepare: true });
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

  /** Inserts or updates rows (sorted by id, so concurrent writers lock rows in one order). */
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

  /** Locks the (scope, key) pairs of a batch in one global order (no deadlock between batches). */
  async function lockKeys(t: Tx, pairs: { scope: string; key: string }[]): Promise<void> {
    const hashes = [...new Set(pairs.map((k) => BigInt.asIntN(64, Bun.hash.wyhash(`${k.scope}\u0000${k.key}`))))].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const p = new Params();
    await t.unsafe(
      `SELECT count(pg_advisory_xact_lock(s.h)) FROM (SELECT a.h::int8 AS h FROM jsonb_array_elements_text(${p.add(JSON.stringify(hashes.map(String)), "text")}::jsonb) WITH ORDINALITY AS a(h, o) ORDER BY a.o) s`,
      p.values,
      { prepare: true },
    );
  }

  /** Upserts one run of items with distinct ids. */
  async function upsertRun(t: Tx, items: KemWrite[], keys: (string | undefined)[], out: (KemRecord | undefined)[], offset: number): Promise<string[]> {
    const nowUs = nowMicros();
    // Idempotency: keys already used in their scope, for a KEM still there.
    const keyed: { i: number; scope: string; key: string }[] = [];
    items.forEach((item, i) => {
      const key = keys[i];
      if (key) keyed.push({ i, scope: scopeOf(item.metadata), key });
    });
    const hitIds = new Map<number, string>();
    const claimedBy = new Map<string, number>(); // scope\0key → index of the item that stores it
    if (keyed.length > 0) {
      const p = new Params();
      const prior = await t.unsafe<{ scope: string; key: string; kem_id: string }[]>(
        `SELECT i.scope, i.key, i.kem_id FROM idempotency_keys i
         JOIN jsonb_to_recordset(${p.add(JSON.stringify(keyed.map((k) => ({ s: k.scope, k: k.key }))), "text")}::jsonb) AS x(s text, k text) ON i.scope = x.s AND i.key = x.k
         WHERE i.created_at >= ${p.add(microsToIso(nowUs - idempotencyTtlUs), "timestamptz")}`,
        p.values,
        { prepare: true },
      );
      const priorRows = await getRows(t, [...new Set(prior.map((r) => r.kem_id))]);
      const live = new Map<string, string>();
      for (const r of prior) {
        const row = priorRows.get(r.kem_id);
        // A KEM moved to another namespace since is not this scope's to return.
        if (row && scopeOf(row.metadata) === r.scope) live.set(`${r.scope}\u0000${r.key}`, r.kem_id);
      }
      for (const k of keyed) {
        const sk = `${k.scope}\u0000${k.key}`;
        const hit = live.get(sk);
        if (hit !== undefined) {
          hitIds.set(k.i, hit);
          out[offset + k.i] = rowToRecord(priorRows.get(hit)!);
        } else if (claimedBy.has(sk)) hitIds.set(k.i, ""); // resolved to the claimer's record below
        else claimedBy.set(sk, k.i);
      }
    }
    const rows: WriteRow[] = [];
    const stored: { i: number; us: number }[] = [];
    items.forEach((item, i) => {
      if (hitIds.has(i)) return;
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
      const p = new Params();
      const entries = [...claimedBy].map(([sk, i]) => ({ s: sk.slice(0, sk.indexOf("\u0000")), k: keys[i]!, id: items[i]!.id }));
      await t.unsafe(
        `INSERT INTO idempotency_keys (scope, key, kem_id, created_at)
         SELECT x.s, x.k, x.id, ${p.add(microsToIso(nowUs), "timestamptz")} FROM jsonb_to_recordset(${p.add(JSON.stringify(entries), "text")}::jsonb) AS x(s text, k text, id text)
         ON CONFLICT (scope, key) DO UPDATE SET kem_id = excluded.kem_id, created_at = excluded.created_at`,
        p.values,
        { prepare: true },
      );
      for (const k of keyed) {
        if (hitIds.get(k.i) === "") out[offset + k.i] = out[offset + claimedBy.get(`${k.scope}\u0000${k.key}`)!];
      }
    }
    return stored.map(({ i }) => items[i]!.id);
  }

  async function deleteRows(t: Tx, ids: string[]): Promise<string[]> {
    if (ids.length === 0) return [];
    const p = new Params();
    const gone = await t.unsafe<{ id: string }[]>(`DELETE FROM kems WHERE ${inList("id", ids, p)} RETURNING id`, p.values, { prepare: true });
    if (gone.length > 0) {
      const q = new Params();
      await t.unsafe(`DELETE FROM kem_meta WHERE ${inList("id", gone.map((g) => g.id), q)}`, q.values, { prepare: true });
    }
    return gone.map((g) => g.id);
  }

  async function countMeta(hash: bigint, cap: number): Promise<number> {
    const [r] = await sql.unsafe<{ n: string }[]>("SELECT count(*)::int8 AS n FROM (SELECT 1 FROM kem_meta WHERE h = $1::int8 LIMIT $2::int8) s", [hash.toString(), String(cap)], { prepare: true });
    return Number(r!.n);
  }

  async function countWhere(filter: KemFilter, cap: number): Promise<number> {
    const p = new Params();
    const conds = conditionsOf(filter, p);
    const [r] = await sql.unsafe<{ n: string }[]>(
      `SELECT count(*)::int8 AS n FROM (SELECT 1 FROM kems k ${conds.length ? `WHERE ${conds.join(" AND ")}` : ""} LIMIT ${p.add(cap, "int8")}) s`,
      p.values,
      { prepare: true },
    );
    return Number(r!.n);
  }

  async function checkVersion(): Promise<number> {
    const [r] = await sql<{ n: string; hi: string }[]>`SELECT count(*)::int8 AS n, coalesce(max(seq), 0)::int8 AS hi FROM kem_changes WHERE seq > ${scannedTo}::int8`;
    const n = Number(r!.n);
    const hi = Number(r!.hi);
    if (n > 0) {
      let mine = 0;
      for (const [lo, up] of own) mine += Math.max(0, Math.min(up, hi) - Math.max(lo, scannedTo + 1) + 1);
      if (n > mine) version++;
      scannedTo = hi;
      for (let i = own.length - 1; i >= 0; i--) if (own[i]![1] <= hi) own.splice(i, 1);
    }
    return version;
  }

  const store: PostgresKemStore = {
    storeId,
    async upsertMany(items, keys) {
      if (items.length === 0) return [];
      const out = await tx(async (t) => {
        const out: (KemRecord | undefined)[] = new Array(items.length);
        const pairs = keys ? items.flatMap((item, i) => (keys[i] ? [{ scope: scopeOf(item.metadata), key: keys[i]! }] : [])) : [];
        if (pairs.length > 0) await lockKeys(t, pairs);
        // Runs of distinct ids: a repeated id starts a new run (applied after the earlier one).
        const changed: string[] = [];
        let start = 0;
        while (start < items.length) {
          const seen = new Set<string>();
          let end = start;
          while (end < items.length && !seen.has(items[end]!.id)) seen.add(items[end++]!.id);
          changed.push(...(await upsertRun(t, items.slice(start, end), (keys ?? []).slice(start, end), out, start)));
          start = end;
        }
        await logChanges(t, changed);
        return out as KemRecord[];
      });
      if (keys && (writesSinceKeyPrune += items.length) >= 10_000) {
        writesSinceKeyPrune = 0;
        await sql`DELETE FROM idempotency_keys WHERE created_at < ${microsToIso(nowMicros() - idempotencyTtlUs)}::text::timestamptz`;
      }
      return out;
    },
    async getMany(ids) {
      const rows = await getRows(sql, ids);
      const out: KemRecord[] = [];
      for (const id of ids) {
        const r = rows.get(id);
        if (r) out.push(rowToRecord(r));
      }
      return out;
    },
    async find(filter, limit, after) {
      const driver = await chooseMetaDriver(filter, countMeta);
      const q = pageQuery(filter, driver?.hash, after, limit);
      return (await sql.unsafe<Row[]>(q.text, q.params, { prepare: true })).map(rowToRecord);
    },
    async findIds(filter, limit = Number.MAX_SAFE_INTEGER) {
      const driver = await chooseMetaDriver(filter, countMeta);
      const q = idsQuery(filter, driver?.hash, Math.min(limit, Number.MAX_SAFE_INTEGER));
      return (await sql.unsafe<{ id: string }[]>(q.text, q.params, { prepare: true })).map((r) => r.id);
    },
    async estimateMatches(filter) {
      let best = PG_ESTIMATE_CAP;
      if (filter.ids && filter.ids.length > 0) best = Math.min(best, filter.ids.length);
      for (const [key, value] of Object.entries(filter.metadata ?? {})) {
        if (best === 0) break;
        best = Math.min(best, await countMeta(metaHashesOf({ [key]: value })[0]!, best));
      }
      const { updatedFromUs, updatedToUs, createdFromUs, createdToUs } = filter;
      if (best > 0 && (updatedFromUs !== undefined || updatedToUs !== undefined)) best = Math.min(best, await countWhere({ updatedFromUs, updatedToUs }, best));
      if (best > 0 && (createdFromUs !== undefined || createdToUs !== undefined)) best = Math.min(best, await countWhere({ createdFromUs, createdToUs }, best));
      return best;
    },
    async matchingIds(ids, filter) {
      if (ids.length === 0) return new Set();
      const p = new Params();
      const conds = [inList("k.id", ids, p), ...conditionsOf(filter, p)];
      return new Set((await sql.unsafe<{ id: string }[]>(`SELECT k.id FROM kems k WHERE ${conds.join(" AND ")}`, p.values, { prepare: true })).map((r) => r.id));
    },
    async lexicalSearch(query, k, opts = {}) {
      const tsq = toTsQuery(query);
      if (tsq === undefined || k <= 0) return [];
      const p = new Params();
      const q = p.add(tsq, "text");
      const conds = ["k.lexical @@ q.q", ...conditionsOf(opts.filter ?? {}, p)];
      const cursor = opts.after ? `WHERE h.s < ${p.add(opts.after.score, "float8")} OR (h.s = $${p.values.length}::text::float8 AND h.id > ${p.add(opts.after.id, "text")})` : "";
      // Ranking: ts_rank_cd (cover density) with length normalization 1 (divide by 1 + log(length)); docs/postgres.md.
      const rows = await sql.unsafe<{ id: string; s: number }[]>(
        `SELECT h.id, h.s FROM (SELECT k.id, ts_rank_cd(k.lexical, q.q, 1)::float8 AS s FROM kems k, to_tsquery('english', ${q}) AS q(q) WHERE ${conds.join(" AND ")}) h
         ${cursor} ORDER BY h.s DESC, h.id ASC LIMIT ${p.add(k, "int8")}`,
        p.values,
        { prepare: true },
      );
      return rows.map((r): LexicalHit => ({ id: r.id, score: r.s }));
    },
    async update(id, patch) {
      return tx(async (t) => {
        const row = (await getRows(t, [id], true)).get(id);
        if (!row) throw new NotFoundError(`KEM ${id} not found`);
        const cur = rowToRecord(row);
        const next = applyPatch(cur, patch);
        await upsertRows(t, [writeRowOf(next, next.updatedAtUs)], true);
        await logChanges(t, [id]);
        return next;
      });
    },
    async delete(id) {
      return tx(async (t) => {
        const gone = await deleteRows(t, [id]);
        if (gone.length === 0) return false;
        await t`DELETE FROM idempotency_keys WHERE kem_id = ${id}`;
        await logChanges(t, [id]);
        return true;
      });
    },
    async restore(records, removeIds) {
      await tx(async (t) => {
        const rows = records.map((r) => writeRowOf(r, r.updatedAtUs, r.createdAtUs));
        // Put back exactly as given: created_at too.
        if (rows.length > 0) await upsertRows(t, rows, false);
        const gone = await deleteRows(t, removeIds);
        await logChanges(t, [...records.map((r) => r.id), ...gone]);
      });
    },
    async changesSince(seq, limit) {
      const rows = await sql<{ seq: string; kem_id: string }[]>`SELECT seq, kem_id FROM kem_changes WHERE seq > ${seq}::int8 ORDER BY seq LIMIT ${limit}::int8`;
      return rows.map((r) => ({ seq: Number(r.seq), id: r.kem_id }));
    },
    latestChangeSeq: async () => Number((await sql<{ s: string }[]>`SELECT coalesce(max(seq), 0)::int8 AS s FROM kem_changes`)[0]!.s),
    oldestChangeSeq: async () => Number((await sql<{ s: string }[]>`SELECT coalesce(min(seq), 0)::int8 AS s FROM kem_changes`)[0]!.s),
    async pruneChanges(keep) {
      await sql`DELETE FROM kem_changes WHERE seq <= (SELECT max(seq) FROM kem_changes) - ${keep}::int8`;
    },
    async dataVersion() {
      // Serialized: one scan of new change-log entries at a time.
      const run = (versionCheck ?? Promise.resolve(0)).then(checkVersion, checkVersion);
      versionCheck = run;
      return run;
    },
    async forEachEmbedding(fn) {
      await sql<{ id: string; embedding: Uint8Array }[]>`SELECT id, embedding FROM kems WHERE embedding IS NOT NULL`.cursor(2000, (rows) => {
        for (const r of rows) fn(r.id, blobToVector(r.embedding));
      });
    },
    count: async () => Number((await sql<{ n: string }[]>`SELECT count(*)::int8 AS n FROM kems`)[0]!.n),
    async onChange(fn) {
      const sub = await sql.listen(CHANGE_CHANNEL, () => fn(), () => fn());
      return () => sub.unlisten();
    },
    close: async () => sql.end({ timeout: 5 }),
  };
  return guardUnavailable(store);
}

/** Connection-level failures: the server is unreachable, refused, restarting or dropped us. */
export function isUnavailableError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== "string") return false;
  return (
    code.startsWith("08") || // connection exception class
    ["57P01", "57P02", "57P03", "53300"].includes(code) || // shutdown, crash, cannot connect now, too many connections
    code.startsWith("CONNECTION_") || // the driver's CONNECTION_CLOSED / _ENDED / _DESTROYED
    ["CONNECT_TIMEOUT", "ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "ENOTFOUND", "EPIPE"].includes(code)
  );
}

/** Every method of `store`, with connection failures turned into `BackendUnavailableError`. */
function guardUnavailable(store: PostgresKemStore): PostgresKemStore {
  const out = {} as Record<string, unknown>;
  for (const [name, fn] of Object.entries(store) as [string, unknown][]) {
    if (typeof fn !== "function") {
      out[name] = fn;
      continue;
    }
    out[name] = async (...args: unknown[]) => {
      try {
        return await fn(...args);
      } catch (err) {
        if (isUnavailableError(err)) throw new BackendUnavailableError(`PostgreSQL unavailable (${(err as Error).message}); retry later`, { cause: err });
        throw err;
      }
    };
  }
  return out as unknown as PostgresKemStore;
}

