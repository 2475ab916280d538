/**
 * The embedding layer (docs/decisions/0008-bounded-embedding-queue.md) on the real model:
 * micro-batching across concurrent callers, back-pressure when the queue is full, cancellation, the
 * bounded cache and warm-up.
 */
import { describe, expect, test } from "bun:test";
import { createBatchingEmbedder, QueueFullError } from "../../../services/kps/embedder/batching-embedder.ts";
import { createCachedEmbedder } from "../../../services/kps/embedder/cached-embedder.ts";
import { warmUpEmbedder } from "../../../services/kps/embedder/warm-up.ts";
import { testEmbedder } from "../../helpers/model.ts";
import { cosine } from "../../helpers/vectors.ts";

describe("batching embedder", () => {
  test("concurrent single-input calls share model batches and get their own vectors back", async () => {
    const model = await testEmbedder();
    const batching = createBatchingEmbedder(model, { maxBatch: 8, maxWaitMs: 20 });
    const texts = Array.from({ length: 16 }, (_, i) => `concurrent caller number ${i} asks about topic ${i * 7}`);
    const results = await Promise.all(texts.map((t) => batching.embed([t])));
    const direct = await model.embed(texts);
    // Each caller gets its own vector: the closest direct embedding is its own text's (batch
    // composition differs, and the int8 model quantizes activations per batch, so not bit-equal).
    results.forEach(([v], i) => {
      const sims = direct.map((d) => cosine(v!, d));
      expect(sims.indexOf(Math.max(...sims))).toBe(i);
      expect(sims[i]).toBeGreaterThan(0.98);
    });
    const s = batching.stats();
    expect(s.inputs).toBe(16);
    expect(s.batches).toBeLessThanOrEqual(4); // 16 one-input calls folded into batches of up to 8
    expect(s.meanBatch).toBeGreaterThanOrEqual(4);
    expect(s.queued).toBe(0);
  }, 60_000);

  test("a call arriving while the model is idle starts at once, without waiting maxWaitMs for a batch", async () => {
    const model = await testEmbedder();
    const batching = createBatchingEmbedder(model, { maxBatch: 32, maxWaitMs: 5_000 });
    await model.embed(["warm"]);
    const t0 = performance.now();
    const [v] = await batching.embed(["a lone short query"]);
    expect(performance.now() - t0).toBeLessThan(2_500); // would wait the full 5 s batching window otherwise
    expect(v!.length).toBe(model.dimension);
    // Calls made in the same turn still share the first model call.
    await Promise.all(["one", "two", "three"].map((t) => batching.embed([t])));
    expect(batching.stats().batches).toBe(2);
  }, 60_000);

  test("a full queue refuses new calls at once with a Retry-After; admitted calls still finish", async () => {
    const model = await testEmbedder();
    const batching = createBatchingEmbedder(model, { maxBatch: 2, maxWaitMs: 0, maxQueue: 4 });
    const calls = Array.from({ length: 6 }, (_, i) =>
      batching.embed([`first ${i}`, `second ${i}`]).then(
        () => "ok",
        (e: unknown) => e,
      ),
    );
    const outcomes = await Promise.all(calls);
    const refused = outcomes.filter((o) => o instanceof QueueFullError) as QueueFullError[];
    expect(refused.length).toBeGreaterThan(0);
    expect(outcomes.filter((o) => o === "ok").length).toBeGreaterThan(0);
    expect(refused[0]!.retryAfterMs).toBeGreaterThanOrEqual(1000);
    expect(batching.stats().rejected).toBe(refused.length);
    // One call larger than the queue still runs when the queue is empty.
    expect((await batching.embed(["a", "b", "c", "d", "e", "f"])).length).toBe(6);
  }, 60_000);

  test("an aborted call is rejected with the abort reason and its queued inputs never reach the model", async () => {
    const model = await testEmbedder();
    const batching = createBatchingEmbedder(model, { maxBatch: 1, maxWaitMs: 0 });
    const ctl = new AbortController();
    const first = batching.embed(["keeps the model busy for a moment"]);
    const aborted = batching.embed(["a", "b", "c", "d", "e", "f", "g", "h"], { signal: ctl.signal });
    ctl.abort(new Error("client went away"));
    await expect(aborted).rejects.toThrow("client went away");
    await first;
    await batching.embed(["after"]);
    expect(batching.stats().inputs).toBeLessThan(10);
  }, 60_000);
});

describe("embedding cache", () => {
  test("repeated texts are served from the cache; the hit ratio is exposed; capacity is bounded", async () => {
    const model = await testEmbedder();
    const cached = createCachedEmbedder(model, { maxBytes: 20 * 1700 });
    const a = await cached.embed(["alpha text", "beta text", "alpha text"]);
    expect(a[0]).toBe(a[2]!); // the repeat inside one call was embedded once
    const b = await cached.embed(["alpha text", "beta text"]);
    expect(b[0]).toBe(a[0]!);
    let s = cached.cacheStats();
    expect(s.misses).toBe(2);
    expect(s.hits).toBe(3);
    expect(s.hitRatio).toBeCloseTo(0.6, 5);
    await cached.embed(Array.from({ length: 40 }, (_, i) => `filler ${i}`));
    s = cached.cacheStats();
    expect(s.bytes).toBeLessThanOrEqual(20 * 1700);
    expect(s.entries).toBeLessThan(42);
  }, 60_000);

  test("cache keys include the model: the same text under another model id is a miss", async () => {
    const model = await testEmbedder();
    const renamed = { ...model, modelId: "other-model", embed: model.embed.bind(model) };
    const one = createCachedEmbedder(model);
    const two = createCachedEmbedder(renamed);
    await one.embed(["shared text"]);
    await two.embed(["shared text"]);
    expect(two.cacheStats().misses).toBe(1);
  }, 60_000);
});

describe("warm-up", () => {
  test("runs a full-window batch once per model instance", async () => {
    const model = await testEmbedder();
    const first = await warmUpEmbedder(model, 4);
    expect(first.inputs).toBeGreaterThanOrEqual(4);
    const again = await warmUpEmbedder(model, 4);
    expect(again.ms).toBe(0);
  }, 60_000);
});
