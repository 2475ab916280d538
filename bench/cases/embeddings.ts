/**
 * Throughput of `/v1/embeddings` against the raw `@huggingface/transformers` pipeline (bench/README.md
 * targets: ≥ 90% of the raw sentences/s at the same batch size, measured in the same run).
 *
 * `kps.embeddings/raw-pipeline-b<B>` calls the feature-extraction pipeline directly on batches of
 * B sentences, one after another; `kps.embeddings/http-v1-b<B>` sends the same number of requests
 * of B sentences over HTTP (base64, as the openai clients and Roo Code ask) from `clients`
 * concurrent clients to a DCSM server in this process (cache off, full warm-up). Repeats alternate
 * raw/HTTP so background load hits both alike; every repeat uses new sentences. Ops are sentences.
 *
 * Environment: BENCH_SENTENCES (320 per repeat), BENCH_BATCH (32), BENCH_CLIENTS (2), plus
 * DCSM_MODEL / DCSM_MODEL_DIR / DCSM_MODEL_DTYPE for the model.
 * @module
 */
import { loadConfig } from "../../runtime/config.ts";
import { startDcsmServer } from "../../runtime/server.ts";
import { benchDir } from "../lib/fixtures.ts";
import { compareRuns, type Sample } from "../lib/measure.ts";
import type { BenchResult } from "../lib/stats.ts";

const WORDS =
  "the agent stores a memory unit and later finds it again by meaning while other agents share locks events counters and vectors in one place".split(
    " ",
  );

/** `n` distinct sentences of 10–20 words (the round number is in every sentence: no reuse across rounds). */
function sentences(n: number, round: number, kind: string): string[] {
  let seed = round * 7919 + kind.length;
  const rand = () => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648;
  };
  return Array.from(
    { length: n },
    (_, i) =>
      `${kind} ${round}.${i}: ` +
      Array.from({ length: 10 + Math.floor(rand() * 10) }, () => WORDS[Math.floor(rand() * WORDS.length)]).join(" "),
  );
}

/** Options of {@link benchEmbeddings}. */
export interface EmbeddingsBenchOptions {
  /** Sentences per repeat. @default BENCH_SENTENCES or 320 */
  sentences?: number;
  /** Sentences per request / pipeline call. @default BENCH_BATCH or 32 */
  batch?: number;
  /** Concurrent HTTP clients. @default BENCH_CLIENTS or 2 */
  clients?: number;
  /** Repeats. @default BENCH_REPEATS or 3 */
  repeats?: number;
}

/**
 * Runs the embeddings case.
 * @returns the raw pipeline result, then `/v1/embeddings` with its ratio (target 0.9), in sentences/s.
 */
export async function benchEmbeddings(options: EmbeddingsBenchOptions = {}): Promise<BenchResult[]> {
  const N = options.sentences ?? Number(process.env.BENCH_SENTENCES ?? 320);
  const B = options.batch ?? Number(process.env.BENCH_BATCH ?? 32);
  const CLIENTS = options.clients ?? Number(process.env.BENCH_CLIENTS ?? 2);
  const config = loadConfig(process.env, {
    httpPort: 0,
    grpcPort: 0,
    dataDir: benchDir(),
    logLevel: "warn",
    modelOffline: true,
    embedCacheMb: 0,
    embedBatchSize: B,
    warmup: "full",
  });
  const server = await startDcsmServer(config);
  try {
    // The raw baseline: the library's pipeline as its README shows it, default session options.
    const tf = await import("@huggingface/transformers");
    tf.env.localModelPath = config.modelDir.endsWith("/") ? config.modelDir : `${config.modelDir}/`;
    tf.env.allowRemoteModels = false;
    const extractor = await tf.pipeline("feature-extraction", config.model, {
      dtype: config.modelDtype,
      device: "cpu",
    });
    const embedRaw = (batch: string[]) => extractor(batch, { pooling: "mean", normalize: true });
    for (let i = 0; i < 3; i++) await embedRaw(sentences(B, -1 - i, "warm"));

    let rawRound = 0;
    const rawRun = async (): Promise<Sample> => {
      const texts = sentences(N, rawRound++, "raw");
      const t0 = performance.now();
      for (let i = 0; i < texts.length; i += B) await embedRaw(texts.slice(i, i + B));
      return { n: texts.length, wallMs: performance.now() - t0 };
    };
    let httpRound = 0;
    const httpRun = async (): Promise<Sample> => {
      const texts = sentences(N, httpRound++, "http");
      let next = 0;
      const t0 = performance.now();
      const client = async () => {
        while (next < texts.length) {
          const batch = texts.slice(next, next + B);
          next += B;
          const res = await fetch(`${server.httpUrl}/v1/embeddings`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ model: config.model, input: batch, encoding_format: "base64" }),
          });
          const body = (await res.json()) as { data?: unknown[] };
          if (res.status !== 200 || body.data?.length !== batch.length) throw new Error(`HTTP ${res.status}`);
        }
      };
      await Promise.all(Array.from({ length: CLIENTS }, client));
      return {
        n: texts.length,
        wallMs: performance.now() - t0,
        extra: { model: config.model, dtype: config.modelDtype, clients: CLIENTS },
      };
    };
    return await compareRuns(
      { name: `kps.embeddings/raw-pipeline-b${B}`, run: rawRun },
      [{ name: `kps.embeddings/http-v1-b${B}`, run: httpRun, target: 0.9 }],
      { repeats: options.repeats, warmup: false },
    );
  } finally {
    await server.close();
  }
}
