import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { create } from "@bufbuild/protobuf";
import { type Client, Code, createClient } from "@connectrpc/connect";
import { GlobalLongTermMemoryService } from "../../../sdk/gen/dcsm/v1/glm_service_pb.ts";
import { type KEMQuery, KEMQuerySchema, SearchMode } from "../../../sdk/gen/dcsm/v1/kem_pb.ts";
import { DEFAULT_KEM_LIMITS, type KemLimits } from "../../../services/common/limits.ts";
import { assembleGlm } from "../../../services/glm/assembly.ts";
import type { KemStore } from "../../../services/glm/ports.ts";
import { createExactVectorIndex } from "../../../services/glm/vector/exact-index.ts";
import type { Embedder } from "../../../services/kps/ports.ts";
import { codeOf } from "../../helpers/connect-code.ts";
import { storeBackends } from "../../helpers/glm.ts";
import { testEmbedder } from "../../helpers/model.ts";
import { testPostgres } from "../../helpers/postgres.ts";
import { removeTempDirs } from "../../helpers/temp-dir.ts";

const pg = await testPostgres();
const opened: KemStore[] = [];
afterAll(async () => {
  for (const st of opened.splice(0)) await st.close();
  await pg?.close();
  removeTempDirs();
});

/** The store backends: SQLite always, PostgreSQL when a server is reachable (tests/helpers/postgres.ts). */
const backends = storeBackends(pg);
const enc = new TextEncoder();

/** Memories of two namespaces; some only a word match finds, some only meaning finds. */
const NOTES: [id: string, ns: string, text: string][] = [
  ["part", "a", "Replacement valve for the pump is catalogue number QX-7731."],
  ["cat", "a", "My cat sleeps on the warm windowsill every afternoon."],
  ["kitten", "a", "The small feline napped in the sunshine by the glass."],
  ["budget", "a", "The quarterly budget review moved to Thursday."],
  ["deploy", "a", "Deploying the service requires the staging database migration first."],
  ["garden", "a", "Tomatoes in the garden need watering twice a day in July."],
  ["b-part", "b", "Team b also ordered valve QX-7731 for their pump."],
  ["b-cat", "b", "Another cat, tabby and loud, lives next door."],
  ["b-bike", "b", "The bicycle chain needs oil before the long ride."],
];

let embedder: Embedder;
let dim: number;

beforeAll(async () => {
  embedder = await testEmbedder();
  dim = embedder.dimension;
});

async function makeGlm(
  backend: (typeof backends)[number],
  limits?: Partial<KemLimits>,
): Promise<Client<typeof GlobalLongTermMemoryService>> {
  const store = await backend.open();
  opened.push(store);
  const glm = await assembleGlm({
    store,
    index: createExactVectorIndex({ dimension: dim }),
    embedder,
    limits: { ...DEFAULT_KEM_LIMITS, dimension: dim, ...limits },
  }).open();
  const client = createClient(GlobalLongTermMemoryService, glm.transport);
  const vectors = await embedder.embed(NOTES.map((n) => n.at(2) as string));
  await client.batchStoreKEMs({
    kems: NOTES.map(([id, ns, text], i) => ({
      id,
      content: enc.encode(text),
      metadata: { namespace: ns },
      embeddings: Array.from(vectors[i]!),
    })),
  });
  // A binary KEM is never matched lexically, only by its vector.
  await client.storeKEM({
    kem: {
      id: "blob",
      contentType: "application/octet-stream",
      content: enc.encode("valve QX-7731 bytes"),
      metadata: { namespace: "a" },
      embeddings: Array.from(vectors[0]!),
    },
  });
  return client;
}

function query(q: {
  textQuery?: string;
  embeddingQuery?: number[];
  ids?: string[];
  searchMode?: SearchMode;
  ns?: string;
}): KEMQuery {
  const { ns, ...rest } = q;
  return create(KEMQuerySchema, {
    ...rest,
    ...(ns ? { metadataFilters: { namespace: { kind: { case: "stringValue", value: ns } } } } : {}),
  });
}

async function ids(
  client: Client<typeof GlobalLongTermMemoryService>,
  q: KEMQuery,
  pageSize = 20,
): Promise<{ ids: string[]; scores: number[] }> {
  const res = await client.retrieveKEMs({ query: q, pageSize });
  return { ids: res.kems.map((k) => k.id), scores: res.scores };
}

/** Every page of a query, concatenated. */
async function allPages(
  client: Client<typeof GlobalLongTermMemoryService>,
  q: KEMQuery,
  pageSize: number,
): Promise<string[]> {
  const out: string[] = [];
  let pageToken = "";
  for (let guard = 0; guard < 100; guard++) {
    const res = await client.retrieveKEMs({ query: q, pageSize, pageToken });
    out.push(...res.kems.map((k) => k.id));
    if (!res.nextPageToken) return out;
    pageToken = res.nextPageToken;
  }
  throw new Error("too many pages");
}

for (const backend of backends)
  describe(`GLM search modes (${backend.name})`, () => {
    test("lexical: an exact code or rare word ranks its KEM first, BM25 scores descend, binary content is not indexed", async () => {
      const client = await makeGlm(backend);
      const { ids: got, scores } = await ids(client, query({ textQuery: "QX-7731", searchMode: SearchMode.LEXICAL }));
      expect(got.sort()).toEqual(["b-part", "part"]);
      expect(scores.every((s) => s > 0)).toBe(true);
      expect([...scores].sort((x, y) => y - x)).toEqual(scores);
      // Stemming: "watered" finds "watering".
      expect((await ids(client, query({ textQuery: "watered tomatoes", searchMode: SearchMode.LEXICAL }))).ids[0]).toBe(
        "garden",
      );
      // Only stopwords: SQLite searches them rather than nothing (PostgreSQL's english configuration
      // drops them from documents too, so there they find nothing; docs/postgres.md).
      if (backend.name === "SQLite")
        expect(
          (await ids(client, query({ textQuery: "the", searchMode: SearchMode.LEXICAL }))).ids.length,
        ).toBeGreaterThan(0);
    });

    test("vector: meaning without shared words; scores are cosines", async () => {
      const client = await makeGlm(backend);
      const { ids: got, scores } = await ids(
        client,
        query({ textQuery: "a kitty dozing in the sun", searchMode: SearchMode.VECTOR, ns: "a" }),
        2,
      );
      expect(got.sort()).toEqual(["cat", "kitten"]);
      for (const s of scores) expect(s).toBeLessThanOrEqual(1.0001);
    });

    test("hybrid is the default for text: it finds what either list finds, within the filter", async () => {
      const client = await makeGlm(backend);
      const dflt = await ids(client, query({ textQuery: "kitty sleeping, valve QX-7731", ns: "a" }), 4);
      const hybrid = await ids(
        client,
        query({ textQuery: "kitty sleeping, valve QX-7731", ns: "a", searchMode: SearchMode.HYBRID }),
        4,
      );
      expect(dflt).toEqual(hybrid);
      // "part" only matches lexically (the code), "kitten" only by meaning; namespace b never appears.
      expect(hybrid.ids).toContain("part");
      expect(hybrid.ids).toContain("kitten");
      expect(hybrid.ids.some((id) => id.startsWith("b-"))).toBe(false);
      // An embedding query alone is dense search.
      const [v] = await embedder.embed(["bicycle maintenance"]);
      expect((await ids(client, query({ embeddingQuery: Array.from(v!) }), 1)).ids).toEqual(["b-bike"]);
    });

    test("filters apply to every mode", async () => {
      const client = await makeGlm(backend);
      for (const searchMode of [SearchMode.VECTOR, SearchMode.LEXICAL, SearchMode.HYBRID]) {
        const got = await ids(client, query({ textQuery: "cat valve pump", ns: "b", searchMode }));
        expect(got.ids.length).toBeGreaterThan(0);
        expect(got.ids.every((id) => id.startsWith("b-"))).toBe(true);
        const byId = await ids(client, query({ textQuery: "cat valve pump", ids: ["cat", "b-bike"], searchMode }));
        expect(byId.ids.every((id) => id === "cat" || id === "b-bike")).toBe(true);
      }
    });

    test("pages are stable in every mode: small pages concatenate to the one big page", async () => {
      const client = await makeGlm(backend);
      for (const searchMode of [SearchMode.VECTOR, SearchMode.LEXICAL, SearchMode.HYBRID]) {
        const q = query({ textQuery: "cat valve pump garden budget", searchMode });
        const whole = (await ids(client, q, 50)).ids;
        expect(whole.length).toBeGreaterThan(3);
        expect(await allPages(client, q, 2)).toEqual(whole);
      }
    });

    test("a page token of one mode is refused for another", async () => {
      const client = await makeGlm(backend);
      const first = await client.retrieveKEMs({
        query: query({ textQuery: "cat", searchMode: SearchMode.LEXICAL }),
        pageSize: 1,
      });
      expect(first.nextPageToken).not.toBe("");
      expect(
        await codeOf(
          client.retrieveKEMs({
            query: query({ textQuery: "cat", searchMode: SearchMode.HYBRID }),
            pageSize: 1,
            pageToken: first.nextPageToken,
          }),
        ),
      ).toBe(Code.InvalidArgument);
    });

    test("a page ends early at the response byte budget and the next token continues it, for listings and searches", async () => {
      // Each KEM here is ~60 bytes of content plus a 1.5 KiB embedding: a 4 KiB budget holds two.
      const client = await makeGlm(backend, { maxResponseBytes: 4096 });
      const listing = await client.retrieveKEMs({ pageSize: 20 });
      expect(listing.kems.length).toBe(2);
      expect(listing.nextPageToken).not.toBe("");
      expect((await allPages(client, query({}), 20)).length).toBe(NOTES.length + 1);
      const q = query({ textQuery: "cat valve pump garden budget", searchMode: SearchMode.LEXICAL });
      expect((await client.retrieveKEMs({ query: q, pageSize: 20 })).kems.length).toBe(2);
      const full = await allPages(client, q, 20);
      expect(full.length).toBeGreaterThan(2);
      expect(new Set(full).size).toBe(full.length);
    });
  });
