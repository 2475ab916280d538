#!/usr/bin/env bun
/**
 * Throughput of `/v1/embeddings` against the raw `@huggingface/transformers` pipeline (issue 6:
 * target ≥ 90% of the raw sentences/s at the same batch size, measured in the same run).
 *
 * Cases: `kps.embeddings/raw-pipeline-b<B>` calls the feature-extraction pipeline directly on
 * batches of B sentences, one after another; `kps.embeddings/http-v1-b<B>` sends the same number
 * of requests of B sentences over HTTP (base64, as the openai clients and Roo Code ask) from
 * `BENCH_CLIENTS` concurrent clients to a DCSM server in this process (cache off, full warm-up).
 * Rounds alternate raw/HTTP so background load hits both alike; every round uses new sentences.
 *
 * Environment: BENCH_SENTENCES (640 per round), BENCH_BATCH (32), BENCH_ROUNDS (3),
 * BENCH_CLIENTS (2), plus DCSM_MODEL / DCSM_MODEL_DIR / DCSM_MODEL_DTYPE for the model.
 * Run: `bun bench/embeddings.ts`.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../runtime/config.ts";
import { startDcsmServer } from "../runtime/server.ts";

const N = Number(process.env.BENCH_SENTENCES ?? 640);
const B = Number(process.env.BENCH_BATCH ?? 32);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 2);

const WORDS = "the agent stores a memory unit and later finds it again by meaning while other agents share locks events counters and vectors in one place".split(" ");
/** N distinct sentences of 10–20 words for one round (round number in every sentence: no cache or reuse across rounds). */
function sentences(round: number, kind: string): string[] {
  let seed = round * 7919 + kind.length;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  return Array.from({ length: N }, (_, i) => `${kind} ${round}.${i}: ` + Array.from({ length: 10 + Math.floor(rand() * 10) }, () => WORDS[Math.floor(rand() * WORDS.length)]).join(" "));
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const dataDir = mkdtempSync(join(tmpdir(), "dcsm-bench-"));
const config = loadConfig(process.env, { httpPort: 0, grpcPort: 0, dataDir, logLevel: "warn", modelOffline: true, embedCacheMb: 0, embedBatchSize: B, warmup: "full" });
const server = await startDcsmServer(config);

// The raw baseline: the library's pipeline as its README shows it, default session options.
const tf = await import("@huggingface/transformers");
tf.env.localModelPath = config.modelDir.endsWith("/") ? config.modelDir : `${config.modelDir}/`;
tf.env.allowRemoteModels = false;
const extractor = await tf.pipeline("feature-extraction", config.model, { dtype: config.modelDtype, device: "cpu" });
const embedRaw = (batch: string[]) => extractor(batch, { pooling: "mean", normalize: true });
for (let i = 0; i < 3; i++) await embedRaw(sentences(-1 - i, "warm").slice(0, B));

async function rawRound(round: number): Promise<number> {
  const texts = sentences(round, "raw");
  const t0 = performance.now();
  for (let i = 0; i < texts.length; i += B) await embedRaw(texts.slice(i, i + B));
  return texts.length / ((performance.now() - t0) / 1000);
}

async function httpRound(round: number): Promise<number> {
  const texts = sentences(round, "http");
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
  return texts.length / ((performance.now() - t0) / 1000);
}

const raw: number[] = [];
const http: number[] = [];
try {
  for (let r = 0; r < ROUNDS; r++) {
    raw.push(await rawRound(r));
    http.push(await httpRound(r));
    process.stderr.write(`round ${r + 1}: raw ${raw.at(-1)!.toFixed(1)} sentences/s, http ${http.at(-1)!.toFixed(1)} sentences/s\n`);
  }
} finally {
  await server.close();
  rmSync(dataDir, { recursive: true, force: true });
}
const ratio = median(http) / median(raw);
console.log(`model ${config.model} (${config.modelDtype}), ${N} sentences per round, batch ${B}, ${ROUNDS} rounds, ${CLIENTS} HTTP clients`);
console.log(`kps.embeddings/raw-pipeline-b${B}  median ${median(raw).toFixed(1)} sentences/s  [${raw.map((x) => x.toFixed(1)).join(", ")}]`);
console.log(`kps.embeddings/http-v1-b${B}       median ${median(http).toFixed(1)} sentences/s  [${http.map((x) => x.toFixed(1)).join(", ")}]`);
console.log(`ratio http/raw ${(ratio * 100).toFixed(1)}% (target ≥ 90%) ${ratio >= 0.9 ? "PASS" : "FAIL"}`);
process.exitCode = ratio >= 0.9 ? 0 : 1;
