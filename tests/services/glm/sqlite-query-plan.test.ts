import { Database } from "bun:sqlite";
import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import type { KemFilter } from "../../../services/common/kem-record.ts";
import {
  chooseDriver,
  createEstimator,
  type Driver,
  idsQuery,
  matchQuery,
  pageQuery,
} from "../../../services/glm/store/sqlite-filter-plan.ts";
import { createSqliteKemStore } from "../../../services/glm/store/sqlite-store.ts";
import { removeTempDirs, tempDir } from "../../helpers/temp-dir.ts";

afterAll(removeTempDirs);
const enc = new TextEncoder();

/** A real store file with KEMs of several namespaces, then a plain connection to explain queries. */
async function explainer(): Promise<{ db: Database; explain: (sql: string, params: unknown[]) => string[] }> {
  const path = join(tempDir(), "glm.sqlite");
  const store = createSqliteKemStore({ path });
  await store.upsertMany(
    Array.from({ length: 300 }, (_, i) => ({
      id: `k${i}`,
      contentType: "text/plain",
      content: enc.encode(`memory number ${i}`),
      metadata: { namespace: `ns${i % 3}`, n: i % 10, ok: i % 2 === 0, topic: i % 50 === 0 ? "rare" : "common" },
      embedding: null,
    })),
  );
  await store.close();
  const db = new Database(path, { readonly: true });
  return {
    db,
    explain: (sql, params) =>
      db
        .query<{ detail: string }, never[]>(`EXPLAIN QUERY PLAN ${sql}`)
        .all(...(params as never[]))
        .map((r) => r.detail),
  };
}

/** A table scan of kems: "SCAN k" / "SCAN kems" not followed by an index. */
const TABLE_SCAN = /\bSCAN (k|kems)\b(?! USING (COVERING )?INDEX)/;

const FILTERS: Record<string, KemFilter> = {
  ids: { ids: ["k1", "k2", "k3"] },
  namespace: { metadata: { namespace: "ns1" } },
  "two metadata keys": { metadata: { namespace: "ns1", topic: "rare" } },
  "number and bool": { metadata: { n: 3, ok: false } },
  "created range": { createdFromUs: 1, createdToUs: 4e15 },
  "updated range": { updatedFromUs: 1 },
  "metadata + dates": { metadata: { namespace: "ns2" }, createdFromUs: 1, updatedToUs: 4e15 },
  "ids + metadata + dates": { ids: ["k1", "k4"], metadata: { ok: false }, updatedFromUs: 1 },
};

describe("SQLite filter plans (EXPLAIN QUERY PLAN)", () => {
  test("no filtered query scans kems: first page, next page, id lists and hit checks, whatever drives them", async () => {
    const { db, explain } = await explainer();
    const estimator = createEstimator(db);
    for (const [name, filter] of Object.entries(FILTERS)) {
      const chosen = chooseDriver(filter, estimator).driver;
      const drivers: Driver[] = [
        chosen,
        { kind: "ids" },
        ...Object.keys(filter.metadata ?? {}).map((key) => ({ kind: "meta", key }) as Driver),
        { kind: "updated" },
        { kind: "created" },
      ];
      for (const driver of drivers) {
        if (driver.kind === "ids" && !filter.ids) continue;
        if (driver.kind === "updated" && filter.updatedFromUs === undefined && filter.updatedToUs === undefined)
          continue;
        if (driver.kind === "created" && filter.createdFromUs === undefined && filter.createdToUs === undefined)
          continue;
        for (const after of [undefined, { updatedAtUs: 3e15, id: "k9" }]) {
          const page = pageQuery("k.*", filter, driver, after, 20);
          const plan = explain(page.sql, page.params);
          expect({ name, driver, plan: plan.filter((l) => TABLE_SCAN.test(l)) }).toEqual({ name, driver, plan: [] });
          // Drivers that walk an index in result order need no sort.
          if (driver.kind === "meta" || driver.kind === "updated")
            expect({ name, driver, sorts: plan.filter((l) => l.includes("TEMP B-TREE")) }).toEqual({
              name,
              driver,
              sorts: [],
            });
        }
        for (const column of ["id", "rid"] as const) {
          const ids = idsQuery(filter, driver, 1000, column);
          expect(explain(ids.sql, ids.params).filter((l) => TABLE_SCAN.test(l))).toEqual([]);
        }
      }
      for (const by of ["rid", "id"] as const) {
        const m = matchQuery(filter, by);
        expect(
          explain(m.sql, [JSON.stringify(by === "rid" ? [1, 2] : ["k1"]), ...m.params]).filter((l) =>
            TABLE_SCAN.test(l),
          ),
        ).toEqual([]);
      }
    }
    db.close();
  });

  test("the planner drives by the most selective criterion", async () => {
    const { db } = await explainer();
    const estimator = createEstimator(db);
    // topic=rare matches 6 KEMs, namespace=ns1 100: the rare value drives.
    expect(chooseDriver({ metadata: { namespace: "ns1", topic: "rare" } }, estimator).driver).toEqual({
      kind: "meta",
      key: "topic",
    });
    expect(chooseDriver({ metadata: { namespace: "ns1" }, ids: ["k1"] }, estimator).driver).toEqual({ kind: "ids" });
    // A created_at range is sorted when narrow, and walked in updated_at order when wide.
    expect(chooseDriver({ createdFromUs: 1 }, estimator).driver).toEqual({ kind: "created" });
    expect(chooseDriver({}, estimator).driver).toEqual({ kind: "ordered" });
    db.close();
  });

  test("lexical search uses the FTS index", async () => {
    const { explain, db } = await explainer();
    const plan = explain(
      "SELECT rowid AS rid, bm25(kem_fts, 1.0, 0.0) AS s FROM kem_fts WHERE kem_fts MATCH ? ORDER BY s LIMIT ?",
      ["memory", 10],
    );
    expect(plan.join("\n")).toMatch(/SCAN kem_fts VIRTUAL TABLE INDEX \d+:M/);
    db.close();
  });
});
