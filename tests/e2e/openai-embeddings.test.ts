/**
 * `/v1/embeddings` and `/v1/models` end to end: the official `openai` npm client and raw
 * fetch against a real server on a free port with the real model.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import OpenAI from "openai";
import type { DcsmServer } from "../../runtime/server.ts";
import { createOpenAiApi } from "../../services/kps/openai/openai-api.ts";
import { testEmbedder } from "../helpers/model.ts";
import { startTestServer } from "../helpers/server.ts";
import { removeTempDirs } from "../helpers/temp-dir.ts";
import { cosine } from "../helpers/vectors.ts";

let server: DcsmServer;
let guarded: DcsmServer;
beforeAll(async () => {
  server = await startTestServer({ openaiMaxInputs: 2048 });
  guarded = await startTestServer({ apiKeys: "k-one, k-two", embedQueue: 4, embedBatchSize: 2 });
}, 60_000);
afterAll(async () => {
  await Promise.all([server?.close(), guarded?.close()]);
  removeTempDirs();
});

const post = (base: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${base}/v1/embeddings`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });

describe("/v1/embeddings with the official openai client", () => {
  test("float and base64 give the model's vectors for Roo Code's batch of 60", async () => {
    const client = new OpenAI({ baseURL: `${server.httpUrl}/v1`, apiKey: "unused", maxRetries: 0 });
    const input = Array.from({ length: 60 }, (_, i) => `function handler${i}() { return fetchRecord(${i}); }`);
    const floats = await client.embeddings.create({ model: "all-MiniLM-L6-v2", input, encoding_format: "float" });
    expect(floats.object).toBe("list");
    expect(floats.model).toBe("all-MiniLM-L6-v2");
    expect(floats.data.map((d) => d.index)).toEqual(input.map((_, i) => i));
    expect(floats.usage.prompt_tokens).toBeGreaterThan(60 * 5);
    expect(floats.usage.total_tokens).toBe(floats.usage.prompt_tokens);
    const direct = await (await testEmbedder()).embed(input);
    // Batches differ (the int8 model quantizes activations per batch): close, not bit-equal.
    floats.data.forEach((d, i) => {
      expect(d.embedding.length).toBe(384);
      expect(cosine(d.embedding, direct[i]!)).toBeGreaterThan(0.99);
    });
    // The client asks for base64 by default and decodes it to floats itself.
    const b64 = await client.embeddings.create({ model: "all-MiniLM-L6-v2", input: input.slice(0, 3) });
    for (const [i, d] of b64.data.entries())
      expect(Array.from(d.embedding)).toEqual(floats.data[i]!.embedding.map((x) => Math.fround(x)));
    // The raw base64 is little-endian float32.
    const raw = await (await post(server.httpUrl, { input: input[0], encoding_format: "base64" })).json();
    const bytes = Buffer.from(raw.data[0].embedding, "base64");
    expect(bytes.length).toBe(384 * 4);
    expect(bytes.readFloatLE(0)).toBe(Math.fround(floats.data[0]!.embedding[0]!));
  }, 60_000);

  test("token-id inputs are decoded with the model's tokenizer", async () => {
    const model = await testEmbedder();
    const ids = model.tokenizer.encode("where are locks released", false);
    const res = await (await post(server.httpUrl, { input: [ids, ids.slice(0, 2)] })).json();
    // Same texts, same batch: the int8 model quantizes activations per batch, so compare like with like.
    const text = await (await post(server.httpUrl, { input: ["where are locks released", "where are"] })).json();
    expect(res.data.length).toBe(2);
    expect(cosine(res.data[0].embedding, text.data[0].embedding)).toBeGreaterThan(0.9999);
    expect(cosine(res.data[1].embedding, text.data[1].embedding)).toBeGreaterThan(0.9999);
    const bad = await post(server.httpUrl, { input: [1, 2, 99999999] });
    expect(bad.status).toBe(400);
    expect((await bad.json()).error.param).toBe("input");
  }, 60_000);

  test("2048 inputs are accepted; 2049 get a 400 in OpenAI's error shape", async () => {
    const input = Array.from({ length: 2048 }, (_, i) => `repeated line ${i % 8}`);
    const ok = await post(server.httpUrl, { input, encoding_format: "base64" });
    expect(ok.status).toBe(200);
    expect((await ok.json()).data.length).toBe(2048);
    const tooMany = await post(server.httpUrl, { input: [...input, "one more"] });
    expect(tooMany.status).toBe(400);
    expect(await tooMany.json()).toEqual({
      error: {
        message: expect.stringContaining("at most 2048"),
        type: "invalid_request_error",
        param: "input",
        code: "too_many_inputs",
      },
    });
  }, 60_000);

  test("long inputs are truncated and counted in a header, or pooled on request; never a crash", async () => {
    const long = Array.from({ length: 1200 }, (_, i) => `token${i % 50}`).join(" ");
    const huge = "many words ".repeat(200_000); // 2.2 MB, clipped before tokenizing
    const t = await post(server.httpUrl, { input: [long, "short", huge] });
    expect(t.status).toBe(200);
    expect(t.headers.get("x-dcsm-truncated-inputs")).toBe("2");
    const truncated = (await t.json()).data[0].embedding;
    const p = await post(server.httpUrl, { input: [long], dcsm_long_input: "pool" });
    expect(p.status).toBe(200);
    expect(p.headers.get("x-dcsm-pooled-inputs")).toBe("1");
    const pooledBody = await p.json();
    const pooled = pooledBody.data[0].embedding as number[];
    expect(Math.hypot(...pooled)).toBeCloseTo(1, 4);
    expect(cosine(pooled, truncated)).toBeLessThan(0.9999);
    expect(pooledBody.usage.prompt_tokens).toBeGreaterThan(256 * 2);
  }, 60_000);

  test("parameter errors: dimensions, encoding_format, model, JSON, method", async () => {
    const dims = await post(server.httpUrl, { input: "a", dimensions: 128 });
    expect(dims.status).toBe(400);
    expect((await dims.json()).error).toMatchObject({ type: "invalid_request_error", param: "dimensions" });
    expect((await post(server.httpUrl, { input: "a", dimensions: 384 })).status).toBe(200);
    expect((await post(server.httpUrl, { input: "a", encoding_format: "int8" })).status).toBe(400);
    expect((await post(server.httpUrl, { input: [] })).status).toBe(400);
    expect((await post(server.httpUrl, { input: [""] })).status).toBe(400);
    const model = await post(server.httpUrl, { input: "a", model: "text-embedding-3-large" });
    expect(model.status).toBe(404);
    expect((await model.json()).error.code).toBe("model_not_found");
    expect((await post(server.httpUrl, { input: "a", model: "sentence-transformers/all-MiniLM-L6-v2" })).status).toBe(
      200,
    );
    const notJson = await fetch(`${server.httpUrl}/v1/embeddings`, { method: "POST", body: "{nope" });
    expect(notJson.status).toBe(400);
    expect((await fetch(`${server.httpUrl}/v1/embeddings`)).status).toBe(405);
  }, 60_000);

  test("/v1/models lists the served model; /health exposes readiness and the cache hit ratio", async () => {
    const client = new OpenAI({ baseURL: `${server.httpUrl}/v1`, apiKey: "unused", maxRetries: 0 });
    const models = [];
    for await (const m of client.models.list()) models.push(m.id);
    expect(models).toEqual(["all-MiniLM-L6-v2"]);
    expect((await client.models.retrieve("all-MiniLM-L6-v2")).id).toBe("all-MiniLM-L6-v2");
    expect((await fetch(`${server.httpUrl}/v1/models/gpt-4`)).status).toBe(404);
    for (const bad of ["%", "%E0%A4%A", "all-MiniLM%ZZ"]) {
      const res = await fetch(`${server.httpUrl}/v1/models/${bad}`);
      expect(res.status).toBe(400); // a malformed percent escape is the client's mistake, not a 500
      expect((await res.json()).error.type).toBe("invalid_request_error");
    }
    const health = await (await fetch(`${server.httpUrl}/health`)).json();
    expect(health.status).toBe("ok");
    expect(health.embedding.ready).toBe(true);
    expect(health.embedding.cache.hitRatio).toBeGreaterThan(0);
  }, 60_000);
});

describe("/v1 with API keys and a small queue", () => {
  test("keys are required: Bearer and api-key headers accepted, others 401", async () => {
    expect((await post(guarded.httpUrl, { input: "a" })).status).toBe(401);
    const wrong = await post(guarded.httpUrl, { input: "a" }, { authorization: "Bearer nope" });
    expect(wrong.status).toBe(401);
    expect((await wrong.json()).error.code).toBe("invalid_api_key");
    expect((await post(guarded.httpUrl, { input: "a" }, { authorization: "Bearer k-two" })).status).toBe(200);
    expect((await post(guarded.httpUrl, { input: "a" }, { "api-key": "k-one" })).status).toBe(200);
    const client = new OpenAI({ baseURL: `${guarded.httpUrl}/v1`, apiKey: "k-one", maxRetries: 0 });
    expect((await client.embeddings.create({ model: "all-MiniLM-L6-v2", input: "b" })).data.length).toBe(1);
  }, 60_000);

  test("a full queue answers 429 with Retry-After; admitted requests succeed", async () => {
    const headers = { authorization: "Bearer k-one" };
    const bodies = Array.from({ length: 10 }, (_, i) => ({
      input: [`queue test ${i} one`, `queue test ${i} two`, `queue test ${i} three`],
    }));
    const res = await Promise.all(bodies.map((b) => post(guarded.httpUrl, b, headers)));
    const statuses = res.map((r) => r.status);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThan(0);
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThan(0);
    const limited = res.find((r) => r.status === 429)!;
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect((await limited.json()).error.code).toBe("rate_limit_exceeded");
  }, 60_000);
});

test("while warming up, /v1/embeddings answers 503 with Retry-After", async () => {
  const api = createOpenAiApi({ embedder: await testEmbedder(), ready: () => false });
  const res = await api.fetch(
    new Request("http://x/v1/embeddings", { method: "POST", body: JSON.stringify({ input: "a" }) }),
  );
  expect(res.status).toBe(503);
  expect(res.headers.get("retry-after")).toBe("2");
  expect((await res.json()).error.code).toBe("model_not_ready");
});
