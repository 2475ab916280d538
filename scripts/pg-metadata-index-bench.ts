/**
 * Chooses how the PostgreSQL store indexes metadata equality filters (docs/postgres.md
 * "Metadata index"): a GIN `jsonb_path_ops` index on `kems.metadata` queried with `@>`, or a side
 * table `kem_meta (h int8, updated_at, id)` keyed by a hash of the (key, value) pair, walked in
 * `updated_at DESC, id DESC` order. Measures the first page (20) of filter-only queries in result
 * order — a frequent value, a rare one, two keys — and the write cost of a batch of 1000 KEMs,
 * on 200,000 KEMs, in a throw-away database.
 *
 * Usage: `bun scripts/pg-metadata-index-bench.ts [postgres://postgres@127.0.0.1:5432/postgres]`
 * @module
 */
import postgres from "postgres";

const ADMIN_URL = process.argv[2] ?? "postgres://postgres@127.0.0.1:5432/postgres";
const DB = `dcsm_meta_bench_${process.pid}`;
const N = 200_000;
const RUNS = 40;

const admin = postgres(ADMIN_URL, { max: 1, onnotice: () => {} });
await admin.unsafe(`CREATE DATABASE ${DB}`);
const sql = postgres(ADMIN_URL.replace(/\/[^/]*$/, `/${DB}`), { max: 1, onnotice: () => {} });

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}
async function time(text: string, params: string[]): Promise<number> {
  const ts: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t = performance.now();
    await sql.unsafe(text, params, { prepare: true });
    ts.push(performance.now() - t);
  }
  return median(ts);
}
// Metadata: kind "doc"/"code" (50% each), "rare" for 1 in 2000; tag 0..99.
// era "old" marks the oldest 10% (a frequent value far from the newest rows).
const META = `jsonb_build_object('kind', CASE WHEN g % 2000 = 0 THEN 'rare' WHEN g % 2 = 0 THEN 'doc' ELSE 'code' END, 'tag', g % 100, 'era', CASE WHEN g > ${N} * 0.9 THEN 'old' ELSE 'new' END)`;
const hashOf = (key: string, valueSql: string) => `hashtextextended('${key}' || chr(1) || (${valueSql}), 0)`;
try {
  for (const t of ["kems_gin", "kems_side"]) {
    await sql.unsafe(
      `CREATE TABLE ${t} (id text PRIMARY KEY, metadata jsonb NOT NULL, created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL)`,
    );
    await sql.unsafe(
      `INSERT INTO ${t} SELECT lpad(g::text, 8, '0'), ${META}, now() - (g || ' ms')::interval, now() - (g || ' ms')::interval FROM generate_series(1, ${N}) g`,
    );
    await sql.unsafe(`CREATE INDEX ON ${t} (updated_at, id)`);
  }
  await sql.unsafe("CREATE INDEX kems_gin_meta ON kems_gin USING gin (metadata jsonb_path_ops)");
  await sql.unsafe(
    "CREATE TABLE kem_meta (h bigint NOT NULL, updated_at timestamptz NOT NULL, id text NOT NULL, PRIMARY KEY (h, updated_at, id))",
  );
  await sql.unsafe("CREATE INDEX ON kem_meta (id)");
  await sql.unsafe(
    `INSERT INTO kem_meta SELECT ${hashOf("kind", "k.metadata->>'kind'")}, k.updated_at, k.id FROM kems_side k`,
  );
  await sql.unsafe(
    `INSERT INTO kem_meta SELECT ${hashOf("tag", "k.metadata->>'tag'")}, k.updated_at, k.id FROM kems_side k`,
  );
  await sql.unsafe(
    `INSERT INTO kem_meta SELECT ${hashOf("era", "k.metadata->>'era'")}, k.updated_at, k.id FROM kems_side k`,
  );
  await sql.unsafe("VACUUM ANALYZE");
  const h = async (key: string, value: string) =>
    (await sql.unsafe<{ h: string }[]>(`SELECT ${hashOf(key, "$1::text")} AS h`, [value]))[0]!.h;

  const cases: [string, Record<string, string | number>][] = [
    ["frequent value (kind = doc, 50%)", { kind: "doc" }],
    ["rare value (kind = rare, 0.05%)", { kind: "rare" }],
    ["two keys (kind = rare AND tag = 0)", { kind: "rare", tag: 0 }],
    ["two keys (kind = doc AND tag = 8, 1%)", { kind: "doc", tag: 8 }],
    ["two keys, no match (kind = doc AND tag = 7)", { kind: "doc", tag: 7 }],
    ["frequent but oldest (era = old, 10%)", { era: "old" }],
  ];
  for (const [label, filter] of cases) {
    const gin = await time(
      "SELECT id FROM kems_gin WHERE metadata @> $1::text::jsonb ORDER BY updated_at DESC, id DESC LIMIT 20",
      [JSON.stringify(filter)],
    );
    // Side table: walk the least frequent pair (as the store's planner chooses), recheck with @>.
    // The walk is fenced (OFFSET 0) and joined LATERAL, so PostgreSQL cannot trade it for a scan
    // driven by its (absent) estimate of the @> recheck.
    const [key, value] = filter.era
      ? ["era", String(filter.era)]
      : filter.kind === "rare" || filter.tag === undefined
        ? ["kind", String(filter.kind)]
        : ["tag", String(filter.tag)];
    const side = await time(
      `SELECT k.id FROM (SELECT m.updated_at, m.id FROM kem_meta m WHERE m.h = $1::text::int8 ORDER BY m.updated_at DESC, m.id DESC OFFSET 0) m
       CROSS JOIN LATERAL (SELECT k.id FROM kems_side k WHERE k.id = m.id AND k.metadata @> $2::text::jsonb) k ORDER BY m.updated_at DESC, m.id DESC LIMIT 20`,
      [await h(key, value), JSON.stringify(filter)],
    );
    console.log(
      `${label.padEnd(46)} GIN jsonb_path_ops: ${gin.toFixed(2).padStart(7)} ms   kem_meta walk: ${side.toFixed(2).padStart(6)} ms`,
    );
  }
  // Write cost: 1000 new KEMs (3 metadata pairs each) in one transaction, median of 10.
  for (const mode of ["gin", "side"] as const) {
    const ts: number[] = [];
    for (let r = 0; r < 10; r++) {
      const t = performance.now();
      await sql.begin(async (tx) => {
        const table = mode === "gin" ? "kems_gin" : "kems_side";
        await tx.unsafe(
          `INSERT INTO ${table} SELECT 'w${r}-' || g, ${META}, now(), now() FROM generate_series(1, 1000) g`,
        );
        if (mode === "side") {
          const keys = ["kind", "tag", "era"].map((key) => `(${hashOf(key, `(${META})->>'${key}'`)})`).join(", ");
          await tx.unsafe(
            `INSERT INTO kem_meta SELECT h, now(), 'w${r}-' || g FROM generate_series(1, 1000) g, LATERAL (VALUES ${keys}) AS v(h)`,
          );
        }
      });
      ts.push(performance.now() - t);
    }
    console.log(
      `write 1000 KEMs, ${mode === "gin" ? "GIN jsonb_path_ops" : "kem_meta (3 entries each)"}: median ${median(ts).toFixed(1)} ms`,
    );
  }
} finally {
  await sql.end();
  await admin.unsafe(`DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`);
  await admin.end();
}
