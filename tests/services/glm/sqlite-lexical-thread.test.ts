import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { createSqliteKemStore } from "../../../services/glm/store/sqlite-store.ts";
import { removeTempDirs, tempDir } from "../../helpers/temp-dir.ts";

afterAll(removeTempDirs);
const enc = new TextEncoder();
const WORDS = "river stone lantern harbor meadow copper violet orchard signal pebble thunder maple quiet ember".split(
  " ",
);

function note(i: number) {
  const text = Array.from({ length: 6 + (i % 5) }, (_, j) => WORDS[(i * 7 + j * 3) % WORDS.length]).join(" ");
  return {
    id: `kem-${i}`,
    contentType: "text/plain",
    content: enc.encode(text),
    metadata: { namespace: `ns-${i % 3}`, n: i % 4 },
    embedding: null,
  };
}

describe("lexical search on its own thread", () => {
  test("answers exactly what the store's own connection answers: filters, depths and (score, id) pages", async () => {
    const path = join(tempDir(), "glm.sqlite");
    const threaded = createSqliteKemStore({ path });
    await threaded.upsertMany(Array.from({ length: 400 }, (_, i) => note(i)));
    const local = createSqliteKemStore({ path, lexicalThread: false });
    const queries: [string, number, object][] = [
      ["river lantern", 10, {}],
      ["copper ember signal", 100, { filter: { metadata: { namespace: "ns-1" } } }],
      ["quiet maple", 5, { filter: { metadata: { namespace: "ns-2", n: 1 } } }],
      ["harbor", 300, { filter: { ids: ["kem-1", "kem-5", "kem-9", "kem-40"] } }],
    ];
    for (const [q, k, opts] of queries) {
      const a = await threaded.lexicalSearch(q, k, opts);
      expect(a.length).toBeGreaterThan(0);
      expect(a).toEqual(await local.lexicalSearch(q, k, opts));
      const after = { score: a[Math.floor(a.length / 2)]!.score, id: a[Math.floor(a.length / 2)]!.id };
      expect(await threaded.lexicalSearch(q, k, { ...opts, after })).toEqual(
        await local.lexicalSearch(q, k, { ...opts, after }),
      );
    }
    await local.close();
    await threaded.close();
  });

  test("a committed write is found by the very next search", async () => {
    const store = createSqliteKemStore({ path: join(tempDir(), "glm.sqlite") });
    for (let i = 0; i < 30; i++) {
      await store.upsertMany([{ ...note(i), content: enc.encode(`fresh word zq${i}x`) }]);
      expect((await store.lexicalSearch(`zq${i}x`, 5)).map((h) => h.id)).toEqual([`kem-${i}`]);
      await store.delete(`kem-${i}`);
      expect(await store.lexicalSearch(`zq${i}x`, 5)).toEqual([]);
    }
    await store.close();
  });

  test("a worker that cannot start leaves search on the store's connection", async () => {
    const warnings: string[] = [];
    const log = { warn: (_: object, msg: string) => void warnings.push(msg) };
    const store = createSqliteKemStore({
      path: join(tempDir(), "glm.sqlite"),
      lexicalWorkerUrl: join(tempDir(), "missing-worker.ts"),
      log,
    });
    await store.upsertMany([note(1), note(2)]);
    const hits = await store.lexicalSearch(WORDS[7]!, 10);
    expect(hits.map((h) => h.id).sort()).toEqual(
      ["kem-1", "kem-2"]
        .filter((id) => new TextDecoder().decode(note(Number(id.slice(4))).content).includes(WORDS[7]!))
        .sort(),
    );
    expect(hits.length).toBeGreaterThan(0);
    expect(warnings).toEqual(["GLM lexical search thread failed; lexical search runs on the store's connection"]);
    await store.close();
  });
});
