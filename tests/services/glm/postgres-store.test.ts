import { afterAll, describe, expect, test } from "bun:test";
import postgres from "postgres";
import { BackendUnavailableError, InvalidInputError } from "../../../services/common/errors.ts";
import { PG_SCHEMA_VERSION } from "../../../services/glm/store/postgres-schema.ts";
import { createPostgresKemStore, MAX_LEXICAL_CHARS } from "../../../services/glm/store/postgres-store.ts";
import { testPostgres } from "../../helpers/postgres.ts";
import { startTcpProxy } from "../../helpers/tcp-proxy.ts";
import { waitFor } from "../../helpers/wait-for.ts";
import { kemStoreContract } from "./kem-store-contract.ts";

const pg = await testPostgres();
afterAll(async () => pg?.close());
const enc = new TextEncoder();

if (pg) {
  kemStoreContract({
    name: "PostgreSQL",
    async create() {
      const db = await pg.createDatabase();
      return { open: (options) => createPostgresKemStore({ url: db.url, maxConnections: 4, ...options }) };
    },
  });
}

describe.skipIf(!pg)("PostgreSQL KEM store", () => {
  test("creates the versioned schema once, even when nodes start together, and refuses a newer one", async () => {
    const db = await pg!.createDatabase();
    const stores = await Promise.all([1, 2, 3].map(() => createPostgresKemStore({ url: db.url, maxConnections: 2 })));
    await stores[0]!.upsertMany([
      { id: "a", contentType: "text/plain", content: enc.encode("hello"), metadata: { k: "v" }, embedding: null },
    ]);
    expect((await stores[2]!.getMany(["a"]))[0]!.metadata).toEqual({ k: "v" });
    // One store identity per database, the same for every node.
    expect(stores[0]!.storeId).toMatch(/^[0-9a-f-]{36}$/);
    expect(new Set(stores.map((s) => s.storeId)).size).toBe(1);
    const elsewhere = await createPostgresKemStore({ url: (await pg!.createDatabase()).url, maxConnections: 1 });
    expect(elsewhere.storeId).not.toBe(stores[0]!.storeId);
    await elsewhere.close();
    for (const s of stores) await s.close();
    const sql = postgres(db.url, { max: 1, onnotice: () => {} });
    expect([...(await sql`SELECT component, version FROM dcsm_schema`)]).toEqual([
      { component: "glm", version: PG_SCHEMA_VERSION },
    ]);
    const tables = (
      await sql<{ t: string }[]>`SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public' ORDER BY 1`
    ).map((r) => r.t);
    expect(tables).toEqual(["dcsm_schema", "idempotency_keys", "kem_changes", "kem_meta", "kems"]);
    const [row] = await sql<
      { created: string }[]
    >`SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') AS created FROM kems`;
    expect(row!.created).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$/);
    await sql`UPDATE dcsm_schema SET version = ${PG_SCHEMA_VERSION + 1}`;
    await sql.end();
    await expect(createPostgresKemStore({ url: db.url })).rejects.toThrow(/newer than this DCSM/);
  });

  test("U+0000 in metadata is invalid input, not a crash", async () => {
    const db = await pg!.createDatabase();
    const store = await createPostgresKemStore({ url: db.url, maxConnections: 2 });
    const bad = {
      id: "z",
      contentType: "text/plain",
      content: enc.encode("nul\u0000inside"),
      metadata: { k: "a\u0000b" },
      embedding: null,
    };
    await expect(store.upsertMany([bad])).rejects.toThrow(InvalidInputError);
    // NUL in text content is stored and still indexed around it.
    await store.upsertMany([{ ...bad, metadata: {} }]);
    expect((await store.lexicalSearch("inside", 5)).map((h) => h.id)).toEqual(["z"]);
    expect(await store.count()).toBe(1);
    await store.close();
  });

  test("concurrent batches with shared keys and overlapping ids from several nodes: one KEM per key, no deadlock, log complete", async () => {
    const db = await pg!.createDatabase();
    const nodes = await Promise.all([1, 2, 3].map(() => createPostgresKemStore({ url: db.url, maxConnections: 3 })));
    const batches = nodes.flatMap((node, n) =>
      Array.from({ length: 4 }, (_, b) => {
        const items = Array.from({ length: 30 }, (_, i) => ({
          id: `n${n}-b${b}-${i}`,
          contentType: "text/plain",
          content: enc.encode(`item ${i}`),
          metadata: { namespace: "ns" },
          embedding: null,
        }));
        // Shared ids across nodes in opposite orders (row-lock order must not deadlock).
        const shared = Array.from({ length: 10 }, (_, i) => ({
          id: `shared-${n % 2 ? 9 - i : i}`,
          contentType: "text/plain",
          content: enc.encode(`shared ${n}`),
          metadata: {},
          embedding: null,
        }));
        const keyed = Array.from({ length: 5 }, (_, i) => ({
          id: `keyed-${n}-${b}-${i}`,
          contentType: "text/plain",
          content: enc.encode("k"),
          metadata: { namespace: "ns" },
          embedding: null,
        }));
        const keys = [
          ...items.map(() => undefined),
          ...shared.map(() => undefined),
          ...keyed.map((_, i) => `key-${(i + n) % 5}`),
        ];
        return node.upsertMany([...items, ...shared, ...keyed], keys);
      }),
    );
    const results = await Promise.all(batches);
    // Every key resolved to one KEM, whichever node stored it.
    const byKey = new Map<string, Set<string>>();
    results.forEach((out, j) => {
      const n = Math.floor(j / 4);
      out.slice(40).forEach((r, i) => {
        const key = `key-${(i + n) % 5}`;
        byKey.set(key, (byKey.get(key) ?? new Set()).add(r.id));
      });
    });
    for (const set of byKey.values()) expect(set.size).toBe(1);
    const keyedStored = await nodes[0]!.findIds({ metadata: { namespace: "ns" } });
    expect(keyedStored.filter((id) => id.startsWith("keyed-")).length).toBe(5);
    expect(keyedStored.filter((id) => id.startsWith("n")).length).toBe(3 * 4 * 30);
    expect(await nodes[1]!.count()).toBe(3 * 4 * 30 + 10 + 5);
    const log = await nodes[2]!.changesSince(0, 100_000);
    for (let i = 1; i < log.length; i++) expect(log[i]!.seq).toBeGreaterThan(log[i - 1]!.seq);
    expect(new Set(log.map((c) => c.id)).size).toBe(3 * 4 * 30 + 10 + 5);
    for (const s of nodes) await s.close();
  });

  test("limits: text past MAX_LEXICAL_CHARS is stored but not indexed; 16 KiB metadata values filter exactly", async () => {
    const db = await pg!.createDatabase();
    const store = await createPostgresKemStore({ url: db.url, maxConnections: 2 });
    // Distinct words throughout (the worst case for tsvector size), one marker each side of the limit.
    const words = Array.from({ length: 60_000 }, (_, i) => `w${i.toString(36)}x`).join(" ");
    const text = `${`beforemarker ${words}`.slice(0, MAX_LEXICAL_CHARS - 20) + " ".repeat(20)} aftermarker ${words}`;
    expect(text.length).toBeGreaterThan(MAX_LEXICAL_CHARS + 100_000);
    const big = "v".repeat(16 * 1024);
    await store.upsertMany([
      { id: "long", contentType: "text/plain", content: enc.encode(text), metadata: { big }, embedding: null },
    ]);
    expect((await store.getMany(["long"]))[0]!.content.byteLength).toBe(enc.encode(text).byteLength);
    expect((await store.lexicalSearch("beforemarker", 5)).map((h) => h.id)).toEqual(["long"]);
    expect(await store.lexicalSearch("aftermarker", 5)).toEqual([]);
    expect((await store.find({ metadata: { big } }, 5)).map((r) => r.id)).toEqual(["long"]);
    expect(await store.find({ metadata: { big: `${big}w` } }, 5)).toEqual([]);
    await store.close();
  });

  test("a lost server is Unavailable, and the store reconnects when it is back", async () => {
    const db = await pg!.createDatabase();
    const url = new URL(db.url);
    const proxy = await startTcpProxy(Number(url.port || 5432));
    url.port = new URL(proxy.url).port;
    const store = await createPostgresKemStore({ url: url.toString(), maxConnections: 2, connectTimeoutS: 2 });
    const kem = { id: "p", contentType: "text/plain", content: enc.encode("x"), metadata: {}, embedding: null };
    await store.upsertMany([kem]);
    proxy.drop(true);
    await expect(store.getMany(["p"])).rejects.toThrow(BackendUnavailableError);
    await expect(store.upsertMany([{ ...kem, id: "q" }])).rejects.toThrow(BackendUnavailableError);
    proxy.up();
    expect((await store.getMany(["p"])).map((r) => r.id)).toEqual(["p"]);
    await store.upsertMany([{ ...kem, id: "q" }]);
    expect(await store.count()).toBe(2);
    await store.close();
    await proxy.close();
  });

  test("onChange wakes other nodes on commit", async () => {
    const db = await pg!.createDatabase();
    const a = await createPostgresKemStore({ url: db.url, maxConnections: 2 });
    const b = await createPostgresKemStore({ url: db.url, maxConnections: 2 });
    let woken = 0;
    const stop = await b.onChange(() => woken++);
    const base = woken;
    await a.upsertMany([
      { id: "w", contentType: "text/plain", content: enc.encode("x"), metadata: {}, embedding: null },
    ]);
    await waitFor(() => woken > base, { timeoutMs: 1000, what: "a NOTIFY wake-up on the other node" });
    expect(woken).toBeGreaterThan(base);
    await stop();
    await a.close();
    await b.close();
  });
});
