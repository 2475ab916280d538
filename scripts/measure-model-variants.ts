/**
 * Compares ONNX variants of the embedding model on this machine, the way the default dtype was
 * chosen (models/all-MiniLM-L6-v2/PROVENANCE.md): quality (cosine to the sentence-transformers
 * reference embeddings written by `scripts/export-model.py --ref-json`, every sentence, batched and
 * one at a time) and throughput of the raw Transformers.js pipeline on short prose (LoCoMo dialogue
 * turns, or generated sentences when the data set is absent) and on code chunks (this repository's
 * TypeScript, ~600 characters each). Rounds alternate the variants so background load hits all alike.
 *
 *   bun scripts/measure-model-variants.ts <reference.json> <name>=<model-dir>:<dtype>[:<threads>[:<batch>]] ...
 *
 * (the same model may appear several times with other intra-op thread counts or batch sizes).
 *
 * Environment: VARIANT_ROUNDS (3), VARIANT_TEXTS (texts per kind per round, 384), VARIANT_BATCH
 * (inputs per pipeline call, 32), VARIANT_THREADS (intra-op threads, 0 = ONNX Runtime's choice),
 * DCSM_BENCH_LOCOMO_DIR (LoCoMo folder). Prints one JSON line per variant: median texts per second
 * of wall time and per second of process CPU time (the steadier figure on a shared machine; with
 * VARIANT_THREADS=1 it is the model's work per text).
 * @module
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { loadLocomo } from "../bench/lib/locomo.ts";

type Extractor = (
  texts: string[],
  o: { pooling: "mean"; normalize: boolean },
) => Promise<{ data: Float32Array; dims: number[] }>;

const [refPath, ...specs] = process.argv.slice(2);
if (!refPath || specs.length === 0) {
  console.error("usage: bun scripts/measure-model-variants.ts <reference.json> <name>=<model-dir>:<dtype> ...");
  process.exit(2);
}
const rounds = Number(process.env.VARIANT_ROUNDS ?? 3);
const perRound = Number(process.env.VARIANT_TEXTS ?? 384);
const batch = Number(process.env.VARIANT_BATCH ?? 32);
const threads = Number(process.env.VARIANT_THREADS ?? 0);
const repo = resolve(import.meta.dir, "..");

const tf = await import("@huggingface/transformers");
tf.env.allowLocalModels = true;
tf.env.allowRemoteModels = false;

const ref = JSON.parse(readFileSync(refPath, "utf8")) as { sentences: string[]; embeddings: number[][] };
const locomo = loadLocomo(process.env.DCSM_BENCH_LOCOMO_DIR ?? join(repo, "..", "shared", "datasets", "locomo-dev"));
const prose = locomo
  ? locomo.turns.map((t) => t.text)
  : Array.from({ length: 4096 }, (_, i) => `Sentence ${i}: the agent stores a memory and finds it again by meaning.`);
const code: string[] = [];
const walk = (d: string) => {
  for (const f of readdirSync(d)) {
    const p = join(d, f);
    if (f === "node_modules" || f === "gen" || f.startsWith(".")) continue;
    if (statSync(p).isDirectory()) walk(p);
    else if (f.endsWith(".ts")) {
      const text = readFileSync(p, "utf8");
      for (let i = 0; i + 200 < text.length; i += 600) code.push(text.slice(i, i + 600));
    }
  }
};
for (const d of ["services", "runtime", "sdk", "bench"]) walk(join(repo, d));

const variants: {
  name: string;
  dtype: string;
  threads: number;
  batch: number;
  extractor: Extractor;
  prose: number[];
  code: number[];
  proseCpu: number[];
  codeCpu: number[];
  min: number;
}[] = [];
for (const spec of specs) {
  const [name, rest] = spec.split("=") as [string, string];
  const [dirPart, dtype, threadsPart, batchPart] = rest.split(":") as [string, string, string?, string?];
  const dir = resolve(dirPart);
  const vThreads = threadsPart ? Number(threadsPart) : threads;
  const vBatch = batchPart ? Number(batchPart) : batch;
  tf.env.localModelPath = `${dirname(dir)}/`;
  const extractor = (await tf.pipeline("feature-extraction", basename(dir), {
    dtype: dtype as "fp32",
    device: "cpu",
    session_options: {
      enableMemPattern: false,
      ...(vThreads ? { intraOpNumThreads: vThreads, interOpNumThreads: 1 } : {}),
    },
  })) as unknown as Extractor;
  // Quality: every reference sentence, as one batch and one at a time; the worse of the two counts.
  const d = ref.embeddings[0]!.length;
  const cos = (a: Float32Array, off: number, r: number[]) => r.reduce((s, x, j) => s + x * a[off + j]!, 0);
  const all = await extractor(ref.sentences, { pooling: "mean", normalize: true });
  let min = 1;
  for (let i = 0; i < ref.sentences.length; i++) {
    const one = await extractor([ref.sentences[i]!], { pooling: "mean", normalize: true });
    min = Math.min(min, cos(all.data, i * d, ref.embeddings[i]!), cos(one.data, 0, ref.embeddings[i]!));
  }
  await extractor(prose.slice(0, batch), { pooling: "mean", normalize: true }); // warm-up
  variants.push({
    name,
    dtype,
    threads: vThreads,
    batch: vBatch,
    extractor,
    prose: [],
    code: [],
    proseCpu: [],
    codeCpu: [],
    min,
  });
}

/** Texts per second of wall time, and per second of this process's CPU time (user + system). */
async function rate(extractor: Extractor, texts: string[], batch: number): Promise<[number, number]> {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  for (let i = 0; i < texts.length; i += batch)
    await extractor(texts.slice(i, i + batch), { pooling: "mean", normalize: true });
  const c = process.cpuUsage(c0);
  return [texts.length / ((performance.now() - t0) / 1000), texts.length / ((c.user + c.system) / 1e6)];
}

for (let r = 0; r < rounds; r++) {
  const p = Array.from({ length: perRound }, (_, i) => prose[(r * perRound + i) % prose.length]!);
  const c = Array.from({ length: perRound / 2 }, (_, i) => code[(r * perRound + i) % code.length]!);
  // Each round starts with a different variant (rotation), so drift in background load spreads evenly.
  for (let k = 0; k < variants.length; k++) {
    const v = variants[(k + r) % variants.length]!;
    const [pw, pc] = await rate(v.extractor, p, v.batch);
    const [cw, cc] = await rate(v.extractor, c, v.batch);
    v.prose.push(pw);
    v.proseCpu.push(pc);
    v.code.push(cw);
    v.codeCpu.push(cc);
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
for (const v of variants) {
  console.log(
    JSON.stringify({
      name: v.name,
      dtype: v.dtype,
      minCosine: Number(v.min.toFixed(6)),
      proseTextsPerS: Number(median(v.prose).toFixed(1)),
      codeChunksPerS: Number(median(v.code).toFixed(1)),
      prosePerCpuS: Number(median(v.proseCpu).toFixed(1)),
      codePerCpuS: Number(median(v.codeCpu).toFixed(1)),
      prose: v.prose.map((x) => Math.round(x)),
      code: v.code.map((x) => Math.round(x)),
      batch: v.batch,
      threads: v.threads,
    }),
  );
}
