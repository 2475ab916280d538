import { afterAll, describe, expect, test } from "bun:test";
import { type AddressInfo, createServer } from "node:net";
import { join } from "node:path";
import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { KnowledgeProcessorService } from "../../../sdk/gen/dcsm/v1/kps_service_pb.ts";
import { assembleGlm } from "../../../services/glm/assembly.ts";
import { createSqliteKemStore } from "../../../services/glm/store/sqlite-store.ts";
import { createExactVectorIndex } from "../../../services/glm/vector/exact-index.ts";
import { chunkText } from "../../../services/kps/chunking/text-chunker.ts";
import { createBatchingEmbedder } from "../../../services/kps/embedder/batching-embedder.ts";
import { createGlmSink } from "../../../services/kps/glm-sink.ts";
import { createGroupCommitSink } from "../../../services/kps/group-commit-sink.ts";
import { createKpsService, fitChunksToModel } from "../../../services/kps/service.ts";
import { testEmbedder } from "../../helpers/model.ts";
import { removeTempDirs, tempDir } from "../../helpers/temp-dir.ts";

afterAll(removeTempDirs);

async function makeKps(
  glmTransport?: ReturnType<typeof createConnectTransport>,
  kpsOptions: { maxBatchDocuments?: number; maxBatchBytes?: number } = {},
) {
  const embedder = await testEmbedder();
  const store = createSqliteKemStore({ path: join(tempDir(), "glm.sqlite") });
  const index = createExactVectorIndex({ dimension: 384 });
  const transport = glmTransport ?? assembleGlm({ store, index, embedder }).transport;
  const sink = createGroupCommitSink({
    inner: createGlmSink({ transport, maxRetries: 2, initialDelayMs: 10, maxDelayMs: 20 }),
    maxBatchSize: 1000,
  });
  // As in the server: the model behind the micro-batching queue, so concurrent documents meet there.
  const kpsImpl = createKpsService({ embedder: createBatchingEmbedder(embedder), sink, ...kpsOptions });
  const kps = createClient(
    KnowledgeProcessorService,
    createRouterTransport(({ service }) => service(KnowledgeProcessorService, kpsImpl)),
  );
  return { kps, store, embedder, sink };
}

describe("KPS", () => {
  test("chunks longer than the model window are split until every chunk fits, losing no line", async () => {
    const embedder = await testEmbedder();
    const lines = Array.from(
      { length: 120 },
      (_, i) => `const value_${i} = computeSomething(alpha_${i}, beta_${i}); // line ${i + 1}`,
    );
    const text = lines.join("\n");
    const fitted = await fitChunksToModel(chunkText(text, { maxChars: 16000 }), embedder);
    expect(fitted.length).toBeGreaterThan(1);
    const counts = await embedder.countTokens(fitted.map((c) => c.text));
    expect(Math.max(...counts)).toBeLessThanOrEqual(embedder.maxTokens);
    expect(fitted.map((c) => c.text).join("\n")).toBe(text);
    fitted.forEach((c, i) => {
      expect(c.index).toBe(i);
      expect(c.text).toBe(lines.slice(c.startLine - 1, c.endLine).join("\n"));
    });
  });

  test("ProcessRawData stores one KEM per chunk with provenance metadata and model embeddings", async () => {
    const { kps, store, embedder } = await makeKps();
    const text = "First paragraph about agents.\n\nSecond paragraph about memory.\n\nThird paragraph about locks.";
    const res = await kps.processRawData({
      rawContent: new TextEncoder().encode(text),
      sourcePath: "a/b.md",
      dataId: "doc-1",
      maxChunkChars: 40,
      contentType: "text/markdown",
    });
    expect(res.kemIds.length).toBe(3);
    const recs = await store.getMany(res.kemIds);
    expect(recs.map((r) => r.metadata)).toEqual(
      [0, 1, 2].map((i) => ({
        chunk_index: i,
        chunk_count: 3,
        start_line: 2 * i + 1,
        end_line: 2 * i + 1,
        source_path: "a/b.md",
        data_id: "doc-1",
        language: "markdown",
        content_hash: expect.stringMatching(/^[0-9a-f]{64}$/),
      })),
    );
    const [expected] = await embedder.embed(["Second paragraph about memory."]);
    const got = recs[1]!.embedding!;
    let dot = 0;
    for (let i = 0; i < 384; i++) dot += got[i]! * expected![i]!;
    expect(dot).toBeGreaterThan(0.9999);
  });

  test("GLM unreachable: the refused connection ends in Unavailable", async () => {
    const dead = createConnectTransport({ baseUrl: "http://127.0.0.1:9", httpVersion: "1.1" });
    const { kps } = await makeKps(dead);
    const err = await kps
      .processRawData({ rawContent: new TextEncoder().encode("hello") })
      .catch((e) => ConnectError.from(e));
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).code).toBe(Code.Unavailable);
  });

  test("GLM resets every connection: the store is tried once plus maxRetries (2) times, then Unavailable", async () => {
    // A real TCP server that accepts and resets each connection, so every attempt is counted;
    // connect-node reports the reset as Aborted, which the sink must still treat as "unreachable".
    let connections = 0;
    const server = createServer((socket) => {
      connections++;
      socket.resetAndDestroy();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const { kps } = await makeKps(
        createConnectTransport({ baseUrl: `http://127.0.0.1:${port}`, httpVersion: "1.1" }),
      );
      const err = await kps
        .processRawData({ rawContent: new TextEncoder().encode("hello") })
        .catch((e) => ConnectError.from(e));
      expect((err as ConnectError).code).toBe(Code.Unavailable);
      expect(connections).toBe(3);
    } finally {
      server.close();
    }
  });
});

describe("KPS re-ingest of code", () => {
  const fn = (name: string, body: string) =>
    `/** ${name} does one thing. */\nexport function ${name}(x: number): number {\n  // ${body}\n  return x * ${name.length};\n}\n`;
  const file = (names: string[], top = "") => top + names.map((n) => fn(n, `work for ${n} `.repeat(24))).join("\n");
  const send = (kps: Awaited<ReturnType<typeof makeKps>>["kps"], text: string) =>
    kps.processRawData({
      rawContent: new TextEncoder().encode(text),
      sourcePath: "src/tools.ts",
      contentType: "text/x-typescript",
    });

  test("unchanged chunks are skipped, moved ones reuse their embedding, deleted ones are removed", async () => {
    const { kps, store } = await makeKps();
    const first = await send(kps, file(["alpha", "beta", "gamma"]));
    expect(first.chunksEmbedded).toBe(3);
    const recs = await store.getMany(first.kemIds);
    expect(recs.map((r) => r.metadata.symbol)).toEqual(["alpha", "beta", "gamma"]);
    expect(recs.every((r) => r.metadata.language === "typescript" && typeof r.metadata.content_hash === "string")).toBe(
      true,
    );
    const updatedAt = recs.map((r) => r.updatedAtUs);

    const again = await send(kps, file(["alpha", "beta", "gamma"]));
    expect([again.chunksEmbedded, again.chunksUnchanged, again.chunksMoved, again.chunksRemoved]).toEqual([0, 3, 0, 0]);
    expect(again.kemIds).toEqual(first.kemIds);
    expect((await store.getMany(first.kemIds)).map((r) => r.updatedAtUs)).toEqual(updatedAt); // not even rewritten

    const edited = await send(kps, file(["alpha", "bravo", "gamma"]));
    expect([edited.chunksEmbedded, edited.chunksUnchanged]).toEqual([1, 2]);

    // Lines inserted on top: every chunk moves, none needs the model.
    const shifted = await send(kps, file(["alpha", "bravo", "gamma"], "// header\n// more header lines\n\n"));
    expect(shifted.chunksEmbedded).toBeLessThanOrEqual(1); // at most the chunk that took the header
    expect(shifted.chunksMoved).toBeGreaterThanOrEqual(2);
    expect(shifted.chunksUnchanged).toBe(0);

    const shrunk = await send(kps, file(["alpha"]));
    expect(shrunk.chunksRemoved).toBeGreaterThan(0);
    const left = await store.find({ metadata: { source_path: "src/tools.ts" } }, 100);
    expect(left.length).toBe(shrunk.kemIds.length);
    expect(left.map((r) => r.metadata.start_line)).toEqual(expect.arrayContaining([1]));
  }, 60_000);

  test("BatchProcessRawData: one result per document in order; a bad document fails alone; writes are group-committed", async () => {
    const { kps, store, sink } = await makeKps();
    const enc = (t: string) => new TextEncoder().encode(t);
    const docs = Array.from({ length: 12 }, (_, i) => ({
      rawContent: enc(`turn ${i}: the agent remembers fact number ${i}`),
      dataId: `turn-${i}`,
    }));
    docs.splice(5, 0, { rawContent: new Uint8Array(), dataId: "empty" });
    docs.splice(9, 0, { rawContent: new Uint8Array([0xff, 0xfe]), dataId: "not-utf8" });
    const res = await kps.batchProcessRawData({ documents: docs });
    expect(res.results.map((r) => r.index)).toEqual(docs.map((_, i) => i));
    expect(res.results.map((r) => r.outcome.case)).toEqual(
      docs.map((d) => (d.dataId === "empty" || d.dataId === "not-utf8" ? "error" : "response")),
    );
    const errors = res.results
      .filter((r) => r.outcome.case === "error")
      .map((r) => r.outcome.value as { code: string; message: string });
    expect(errors.map((e) => e.code)).toEqual(["invalid_argument", "invalid_argument"]);
    expect(errors[0]!.message).toContain("empty");
    for (const r of res.results) {
      if (r.outcome.case !== "response") continue;
      const [rec] = await store.getMany(r.outcome.value.kemIds);
      expect(rec!.metadata.data_id).toBe(docs[r.index]!.dataId);
      expect(new TextDecoder().decode(rec!.content)).toBe(new TextDecoder().decode(docs[r.index]!.rawContent));
    }
    // 12 documents stored in fewer GLM calls than documents.
    const { calls, commits } = sink.stats();
    expect(calls).toBe(12);
    expect(commits).toBeLessThan(12);
  }, 60_000);

  test("concurrent ProcessRawData calls share GLM batch calls and each gets exactly its own KEM ids", async () => {
    const { kps, store, sink } = await makeKps();
    const before = sink.stats();
    const texts = Array.from(
      { length: 10 },
      (_, i) => `Paragraph one of document ${i}.\n\nParagraph two of document ${i}.`,
    );
    const res = await Promise.all(
      texts.map((t, i) =>
        kps.processRawData({ rawContent: new TextEncoder().encode(t), sourcePath: `docs/${i}.md`, maxChunkChars: 40 }),
      ),
    );
    for (const [i, r] of res.entries()) {
      expect(r.kemIds.length).toBe(2);
      const recs = await store.getMany(r.kemIds);
      expect(recs.map((k) => k.metadata.source_path)).toEqual([`docs/${i}.md`, `docs/${i}.md`]);
      expect(recs.map((k) => k.metadata.chunk_index)).toEqual([0, 1]);
    }
    const after = sink.stats();
    expect(after.calls - before.calls).toBe(10);
    expect(after.commits - before.commits).toBeLessThan(10);
  }, 60_000);

  test("BatchProcessRawData limits: more documents or raw bytes than allowed is ResourceExhausted, nothing stored", async () => {
    const { kps, store } = await makeKps(undefined, { maxBatchDocuments: 3, maxBatchBytes: 100 });
    const doc = (n: number) => ({ rawContent: new TextEncoder().encode("x".repeat(n)), dataId: `d${n}` });
    const tooMany = await kps
      .batchProcessRawData({ documents: [doc(1), doc(2), doc(3), doc(4)] })
      .catch((e) => ConnectError.from(e));
    expect(tooMany).toBeInstanceOf(ConnectError);
    expect((tooMany as ConnectError).code).toBe(Code.ResourceExhausted);
    expect((tooMany as ConnectError).rawMessage).toContain("4 documents, over the limit of 3");
    const tooBig = await kps.batchProcessRawData({ documents: [doc(60), doc(41)] }).catch((e) => ConnectError.from(e));
    expect((tooBig as ConnectError).code).toBe(Code.ResourceExhausted);
    expect((tooBig as ConnectError).rawMessage).toContain("101 bytes");
    expect((await store.find({}, 10)).length).toBe(0);
    // At the limits exactly: accepted.
    const ok = await kps.batchProcessRawData({ documents: [doc(60), doc(40)] });
    expect(ok.results.every((r) => r.outcome.case === "response")).toBe(true);
  }, 60_000);
});
