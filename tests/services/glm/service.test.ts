import { afterAll, describe, expect, test } from "bun:test";
import { Code, createClient } from "@connectrpc/connect";
import { GlobalLongTermMemoryService, MetadataUpdateMode } from "../../../sdk/gen/dcsm/v1/glm_service_pb.ts";
import { SearchMode } from "../../../sdk/gen/dcsm/v1/kem_pb.ts";
import { DEFAULT_KEM_LIMITS } from "../../../services/common/limits.ts";
import { timestampToMicros } from "../../../services/common/time.ts";
import { assembleGlm } from "../../../services/glm/assembly.ts";
import type { KemStore } from "../../../services/glm/ports.ts";
import { createExactVectorIndex } from "../../../services/glm/vector/exact-index.ts";
import { codeOf } from "../../helpers/connect-code.ts";
import { storeBackends } from "../../helpers/glm.ts";
import { testPostgres } from "../../helpers/postgres.ts";
import { removeTempDirs } from "../../helpers/temp-dir.ts";
import { prng, randomVector } from "../../helpers/vectors.ts";

const pg = await testPostgres();
const opened: KemStore[] = [];
afterAll(async () => {
  for (const s of opened.splice(0)) await s.close();
  await pg?.close();
  removeTempDirs();
});
const DIM = 8;
const enc = new TextEncoder();
const limits = { ...DEFAULT_KEM_LIMITS, dimension: DIM, maxBatchSize: 50, maxPageSize: 100 };

/** The store backends the service runs on: SQLite always, PostgreSQL when a server is reachable. */
const backends = storeBackends(pg);

for (const backend of backends) {
  async function makeGlm() {
    const store = await backend.open();
    opened.push(store);
    const index = createExactVectorIndex({ dimension: DIM });
    const { transport } = await assembleGlm({ store, index, limits }).open();
    return { store, index, client: createClient(GlobalLongTermMemoryService, transport) };
  }

  describe(`GLM service (${backend.name})`, () => {
    test("StoreKEM generates a UUIDv7 id and server timestamps", async () => {
      const { client } = await makeGlm();
      const before = Date.now() * 1000;
      const { kem } = await client.storeKEM({ kem: { content: enc.encode("hello"), metadata: { topic: "AI" } } });
      expect(kem!.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(kem!.contentType).toBe("text/plain");
      expect(timestampToMicros(kem!.createdAt!)).toBeGreaterThanOrEqual(before);
      expect(kem!.updatedAt).toEqual(kem!.createdAt);
    });

    test("vector search ranks by cosine, honours filters, pages without overlap", async () => {
      const { client } = await makeGlm();
      const rand = prng(42);
      const vecs = Array.from({ length: 30 }, () => randomVector(DIM, rand));
      await client.batchStoreKEMs({
        kems: vecs.map((v, i) => ({
          id: `v${i}`,
          content: enc.encode(`kem ${i}`),
          embeddings: v,
          metadata: { parity: i % 2 === 0 ? "even" : "odd", i },
        })),
      });
      const q = vecs[4]!;
      const res = await client.retrieveKEMs({ query: { embeddingQuery: q }, pageSize: 5 });
      expect(res.kems[0]!.id).toBe("v4");
      expect(res.scores[0]).toBeCloseTo(1, 5);
      for (let i = 1; i < res.scores.length; i++) expect(res.scores[i]!).toBeLessThanOrEqual(res.scores[i - 1]!);
      const page2 = await client.retrieveKEMs({
        query: { embeddingQuery: q },
        pageSize: 5,
        pageToken: res.nextPageToken,
      });
      expect(page2.kems.map((k) => k.id).filter((id) => res.kems.some((k) => k.id === id))).toEqual([]);
      const odd = await client.retrieveKEMs({
        query: { embeddingQuery: q, metadataFilters: { parity: { kind: { case: "stringValue", value: "odd" } } } },
        pageSize: 100,
      });
      expect(odd.kems.length).toBe(15);
      expect(odd.kems.every((k) => (k.metadata!.i as number) % 2 === 1)).toBe(true);
    });

    test("non-vector queries order by updated_at desc and page with tokens", async () => {
      const { client } = await makeGlm();
      for (let i = 0; i < 7; i++) await client.storeKEM({ kem: { id: `d${i}`, content: enc.encode(`doc ${i}`) } });
      await client.updateKEM({ kemId: "d2", kemDataUpdate: { content: enc.encode("changed") } });
      const seen: string[] = [];
      let token = "";
      do {
        const page = await client.retrieveKEMs({ pageSize: 3, pageToken: token });
        seen.push(...page.kems.map((k) => k.id));
        token = page.nextPageToken;
      } while (token);
      expect(seen).toEqual(["d2", "d6", "d5", "d4", "d3", "d1", "d0"]);
      const byIds = await client.retrieveKEMs({ query: { ids: ["d1", "d3", "missing"] } });
      expect(byIds.kems.map((k) => k.id).sort()).toEqual(["d1", "d3"]);
    });

    test("UpdateKEM merges metadata, advances updated_at, keeps created_at", async () => {
      const { client } = await makeGlm();
      const { kem } = await client.storeKEM({
        kem: { id: "u1", content: enc.encode("x"), metadata: { a: 1, b: "keep" } },
      });
      const { kem: merged } = await client.updateKEM({
        kemId: "u1",
        kemDataUpdate: { metadata: { a: 2, c: true } },
        updateMask: { paths: ["metadata"] },
      });
      expect(merged!.metadata).toEqual({ a: 2, b: "keep", c: true });
      expect(timestampToMicros(merged!.updatedAt!)).toBeGreaterThan(timestampToMicros(kem!.updatedAt!));
      expect(merged!.createdAt).toEqual(kem!.createdAt);
      const { kem: replaced } = await client.updateKEM({
        kemId: "u1",
        kemDataUpdate: { metadata: { only: "this" } },
        metadataMode: MetadataUpdateMode.REPLACE,
      });
      expect(replaced!.metadata).toEqual({ only: "this" });
      expect(await codeOf(client.updateKEM({ kemId: "nope", kemDataUpdate: { content: enc.encode("y") } }))).toBe(
        Code.NotFound,
      );
      expect(await codeOf(client.updateKEM({ kemId: "u1", kemDataUpdate: {}, updateMask: { paths: ["id"] } }))).toBe(
        Code.InvalidArgument,
      );
    });

    test("DeleteKEM removes row and vector; a second delete is NotFound", async () => {
      const { client, index } = await makeGlm();
      await client.storeKEM({ kem: { id: "x1", content: enc.encode("x"), embeddings: [1, 0, 0, 0, 0, 0, 0, 0] } });
      expect(index.stats().size).toBe(1);
      await client.deleteKEM({ kemId: "x1" });
      expect(index.stats().size).toBe(0);
      expect((await client.retrieveKEMs({ query: { ids: ["x1"] } })).kems).toEqual([]);
      expect(await codeOf(client.deleteKEM({ kemId: "x1" }))).toBe(Code.NotFound);
    });

    test("BatchStoreKEMs reports a result per item; one bad item does not sink the batch", async () => {
      const { client, store } = await makeGlm();
      const res = await client.batchStoreKEMs({
        kems: [
          { id: "b0", content: enc.encode("ok") },
          { id: "b1", content: new Uint8Array() },
          { id: "b2", content: enc.encode("ok"), embeddings: [1, 2, 3] },
          { id: "b3", content: enc.encode("ok") },
        ],
      });
      expect(res.results.map((r) => r.outcome.case)).toEqual(["kem", "error", "error", "kem"]);
      expect(res.results[1]!.outcome.value).toMatchObject({
        code: "invalid_argument",
        message: "kem.content is empty",
      });
      expect(res.results[2]!.outcome.value).toMatchObject({
        code: "invalid_argument",
        message: "kem.embeddings has dimension 3 (expected 8)",
      });
      expect(res.failedKemReferences).toEqual(["b1", "b2"]);
      expect(await store.count()).toBe(2);
    });

    test("a batch over maxBatchSize is ResourceExhausted", async () => {
      const { client } = await makeGlm();
      const tooMany = Array.from({ length: limits.maxBatchSize + 1 }, (_, i) => ({
        id: `t${i}`,
        content: enc.encode("x"),
      }));
      expect(await codeOf(client.batchStoreKEMs({ kems: tooMany }))).toBe(Code.ResourceExhausted);
    });

    test("a page size over maxPageSize or negative, and more ids than maxQueryIds, are InvalidArgument", async () => {
      const { client } = await makeGlm();
      expect(await codeOf(client.retrieveKEMs({ pageSize: limits.maxPageSize + 1 }))).toBe(Code.InvalidArgument);
      expect(await codeOf(client.retrieveKEMs({ pageSize: -1 }))).toBe(Code.InvalidArgument);
      expect(
        await codeOf(client.retrieveKEMs({ query: { ids: Array.from({ length: 1001 }, (_, i) => `i${i}`) } })),
      ).toBe(Code.InvalidArgument);
    });

    test("a query vector of the wrong dimension, content over maxContentBytes, an id with a space and an idempotency key over its limit are InvalidArgument", async () => {
      const { client } = await makeGlm();
      expect(await codeOf(client.retrieveKEMs({ query: { embeddingQuery: [1, 2] } }))).toBe(Code.InvalidArgument);
      expect(await codeOf(client.storeKEM({ kem: { content: new Uint8Array(limits.maxContentBytes + 1) } }))).toBe(
        Code.InvalidArgument,
      );
      expect(await codeOf(client.storeKEM({ kem: { id: "has space", content: enc.encode("x") } }))).toBe(
        Code.InvalidArgument,
      );
      expect(
        await codeOf(
          client.storeKEM({
            kem: { content: enc.encode("k") },
            idempotencyKey: "k".repeat(limits.maxIdempotencyKeyChars + 1),
          }),
        ),
      ).toBe(Code.InvalidArgument);
    });

    test("a malformed page token, or one made for another query, is InvalidArgument", async () => {
      const { client } = await makeGlm();
      expect(await codeOf(client.retrieveKEMs({ pageToken: "garbage!" }))).toBe(Code.InvalidArgument);
      const first = await client.retrieveKEMs({ pageSize: 1 });
      await client.storeKEM({ kem: { content: enc.encode("a") } });
      await client.storeKEM({ kem: { content: enc.encode("b") } });
      const page = await client.retrieveKEMs({ pageSize: 1 });
      expect(
        await codeOf(client.retrieveKEMs({ pageSize: 1, pageToken: page.nextPageToken, query: { ids: ["zzz"] } })),
      ).toBe(Code.InvalidArgument);
      expect(first.kems.length).toBe(0);
    });

    test("without a model a text query is searched lexically; dense modes are FailedPrecondition; LEXICAL needs a text query", async () => {
      const { client } = await makeGlm();
      expect(await codeOf(client.retrieveKEMs({ query: { textQuery: "needs a model" } }))).toBe("ok");
      expect(
        await codeOf(client.retrieveKEMs({ query: { textQuery: "needs a model", searchMode: SearchMode.VECTOR } })),
      ).toBe(Code.FailedPrecondition);
      expect(
        await codeOf(client.retrieveKEMs({ query: { textQuery: "needs a model", searchMode: SearchMode.HYBRID } })),
      ).toBe(Code.FailedPrecondition);
      expect(await codeOf(client.retrieveKEMs({ query: { searchMode: SearchMode.LEXICAL } }))).toBe(
        Code.InvalidArgument,
      );
      expect(
        await codeOf(
          client.retrieveKEMs({ query: { embeddingQuery: [1, 0, 0, 0, 0, 0, 0, 0], searchMode: SearchMode.LEXICAL } }),
        ),
      ).toBe(Code.InvalidArgument);
    });

    test("a retried batch with the same idempotency keys stores nothing twice", async () => {
      const { client, store } = await makeGlm();
      const kems = [0, 1, 2].map((i) => ({ content: enc.encode(`retry ${i}`) })); // no ids: GLM generates them
      const keys = ["req-1/0", "req-1/1", "req-1/2"];
      const first = await client.batchStoreKEMs({ kems, idempotencyKeys: keys });
      const again = await client.batchStoreKEMs({ kems, idempotencyKeys: keys });
      expect(again.successfullyStoredKems.map((k) => k.id)).toEqual(first.successfullyStoredKems.map((k) => k.id));
      expect(await store.count()).toBe(3);
      expect(await codeOf(client.batchStoreKEMs({ kems, idempotencyKeys: ["only-one"] }))).toBe(Code.InvalidArgument);
    });

    test("vector, metadata and date criteria combine (AND) in one query", async () => {
      const { client } = await makeGlm();
      const rand = prng(8);
      const early = await client.batchStoreKEMs({
        kems: Array.from({ length: 10 }, (_, i) => ({
          id: `e${i}`,
          content: enc.encode("e"),
          embeddings: randomVector(DIM, rand),
          metadata: { team: i % 2 ? "red" : "blue" },
        })),
      });
      const cut = early.successfullyStoredKems.at(-1)!.createdAt!;
      await Bun.sleep(2);
      await client.batchStoreKEMs({
        kems: Array.from({ length: 10 }, (_, i) => ({
          id: `l${i}`,
          content: enc.encode("l"),
          embeddings: randomVector(DIM, rand),
          metadata: { team: i % 2 ? "red" : "blue" },
        })),
      });
      const res = await client.retrieveKEMs({
        query: {
          embeddingQuery: randomVector(DIM, rand),
          metadataFilters: { team: { kind: { case: "stringValue", value: "red" } } },
          createdAtStart: { seconds: cut.seconds, nanos: cut.nanos + 1000 },
          ids: ["l1", "l3", "l4", "e1", "l5"],
        },
        pageSize: 10,
      });
      expect(res.kems.map((k) => k.id).sort()).toEqual(["l1", "l3", "l5"]);
      expect(res.scores.length).toBe(3);
    });

    test("page tokens stay stable while others write: no duplicates, nothing skipped", async () => {
      const { client } = await makeGlm();
      const rand = prng(12);
      await client.batchStoreKEMs({
        kems: Array.from({ length: 40 }, (_, i) => ({
          id: `p${i}`,
          content: enc.encode("p"),
          embeddings: randomVector(DIM, rand),
        })),
      });
      const q = randomVector(DIM, rand);
      const before = (await client.retrieveKEMs({ query: { embeddingQuery: q }, pageSize: 100 })).kems.map((k) => k.id);
      const seenVec: string[] = [];
      const seenTime: string[] = [];
      let vt = "";
      let tt = "";
      let vDone = false;
      let tDone = false;
      for (let page = 0; page < 20 && !(vDone && tDone); page++) {
        if (!vDone) {
          const v = await client.retrieveKEMs({ query: { embeddingQuery: q }, pageSize: 7, pageToken: vt });
          seenVec.push(...v.kems.map((k) => k.id));
          vt = v.nextPageToken;
          vDone = vt === "";
        }
        if (!tDone) {
          const t = await client.retrieveKEMs({ pageSize: 7, pageToken: tt });
          seenTime.push(...t.kems.map((k) => k.id));
          tt = t.nextPageToken;
          tDone = tt === "";
        }
        // Another agent writes between pages, including vectors that rank anywhere.
        await client.storeKEM({
          kem: { id: `w${page}`, content: enc.encode("w"), embeddings: randomVector(DIM, rand) },
        });
      }
      expect(vDone && tDone).toBe(true);
      expect(new Set(seenVec).size).toBe(seenVec.length);
      expect(new Set(seenTime).size).toBe(seenTime.length);
      // Every KEM that existed before paging began was returned exactly once by the vector pages.
      expect(before.every((id) => seenVec.includes(id))).toBe(true);
      expect(Array.from({ length: 40 }, (_, i) => `p${i}`).every((id) => seenTime.includes(id))).toBe(true);
    });
  });
}
