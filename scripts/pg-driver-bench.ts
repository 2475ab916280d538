/**
 * Measures the two maintained PostgreSQL drivers for Node/Bun, `postgres` (porsager) and `pg`
 * (node-postgres), on GLM's two hottest statements: a batch insert of 1000 KEMs (one statement,
 * rows as one JSON document, 384-dim float32 embeddings as base64 bytea) and a point select by id.
 * Both drivers run the same SQL text with prepared statements, on one connection, against a
 * throw-away database. Used for docs/postgres.md "Driver".
 *
 * Usage: `bun scripts/pg-driver-bench.ts [postgres://postgres@127.0.0.1:5432/postgres]`
 * @module
 */
import pg from "pg";
import postgres from "postgres";

const ADMIN_URL = process.argv[2] ?? "postgres://postgres@127.0.0.1:5432/postgres";
const DB = `dcsm_driver_bench_${process.pid}`;
const BATCHES = 30;
const SELECTS = 5000;

const DDL = `CREATE TABLE kems (id text PRIMARY KEY, content_type text NOT NULL, content bytea NOT NULL, metadata jsonb NOT NULL,
  created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL, embedding bytea)`;
const INSERT = `INSERT INTO kems (id, content_type, content, metadata, created_at, updated_at, embedding)
  SELECT x.id, x.ct, decode(x.c, 'base64'), x.m, x.t::timestamptz, x.t::timestamptz, decode(x.e, 'base64')
  FROM jsonb_to_recordset($1::text::jsonb) AS x(id text, ct text, c text, m jsonb, t text, e text)`;
const SELECT = "SELECT id, content_type, content, metadata, created_at, updated_at, embedding FROM kems WHERE id = $1";

function batchJson(batch: number): string {
  const rows = [];
  for (let i = 0; i < 1000; i++) {
    const e = new Float32Array(384).map(() => Math.random() - 0.5);
    rows.push({
      id: `b${batch}-${i}`,
      ct: "text/plain",
      c: Buffer.from(`KEM ${i} of batch ${batch}: some prose about agents sharing memory`).toString("base64"),
      m: { namespace: "bench", kind: "doc", i },
      t: new Date().toISOString(),
      e: Buffer.from(e.buffer).toString("base64"),
    });
  }
  return JSON.stringify(rows);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

const admin = postgres(ADMIN_URL, { max: 1, onnotice: () => {} });
await admin.unsafe(`CREATE DATABASE ${DB}`);
const url = ADMIN_URL.replace(/\/[^/]*$/, `/${DB}`);
try {
  const payloads = Array.from({ length: BATCHES }, (_, b) => batchJson(b));
  const results: Record<string, { insertMs: number; selectUs: number; concurrentUs: number }> = {};

  // postgres (porsager)
  {
    const sql = postgres(url, { max: 1, onnotice: () => {} });
    await sql.unsafe(DDL);
    const ins: number[] = [];
    for (const p of payloads) {
      const t = performance.now();
      await sql.unsafe(INSERT, [p], { prepare: true });
      ins.push(performance.now() - t);
    }
    const t = performance.now();
    for (let i = 0; i < SELECTS; i++) await sql.unsafe(SELECT, [`b${i % BATCHES}-${i % 1000}`], { prepare: true });
    const selectUs = ((performance.now() - t) / SELECTS) * 1000;
    const t2 = performance.now();
    await Promise.all(
      Array.from({ length: SELECTS }, (_, i) => sql.unsafe(SELECT, [`b${i % BATCHES}-${i % 1000}`], { prepare: true })),
    );
    results.postgres = { insertMs: median(ins), selectUs, concurrentUs: ((performance.now() - t2) / SELECTS) * 1000 };
    await sql.unsafe("DROP TABLE kems");
    await sql.end();
  }
  // pg (node-postgres)
  {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    await client.query(DDL);
    const ins: number[] = [];
    for (const p of payloads) {
      const t = performance.now();
      await client.query({ name: "ins", text: INSERT, values: [p] });
      ins.push(performance.now() - t);
    }
    const t = performance.now();
    for (let i = 0; i < SELECTS; i++)
      await client.query({ name: "sel", text: SELECT, values: [`b${i % BATCHES}-${i % 1000}`] });
    const selectUs = ((performance.now() - t) / SELECTS) * 1000;
    const t2 = performance.now();
    await Promise.all(
      Array.from({ length: SELECTS }, (_, i) =>
        client.query({ name: "sel", text: SELECT, values: [`b${i % BATCHES}-${i % 1000}`] }),
      ),
    );
    results.pg = { insertMs: median(ins), selectUs, concurrentUs: ((performance.now() - t2) / SELECTS) * 1000 };
    await client.end();
  }
  for (const [name, r] of Object.entries(results)) {
    console.log(
      `${name.padEnd(9)} batch insert 1000 KEMs: median ${r.insertMs.toFixed(1)} ms; point select: ${r.selectUs.toFixed(0)} µs/query sequential, ${r.concurrentUs.toFixed(0)} µs/query with ${SELECTS} in flight on the one connection`,
    );
  }
} finally {
  await admin.unsafe(`DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`);
  await admin.end();
}
