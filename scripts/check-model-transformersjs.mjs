// Loads an exported model directory with @huggingface/transformers (local files only) and compares
// its mean-pooled, normalised embeddings with reference embeddings written by export-model.py.
//
//   node scripts/check-model-transformersjs.mjs <model-dir> <dtype: fp32|q8> <reference.json>
//
// Prints one JSON line: {dtype, dims, min, mean, per_sentence, model_max_length, transformers}.
// Called by scripts/export-model.py (unless --skip-transformersjs); usable on its own too.

import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { env, pipeline } from "@huggingface/transformers";

const [modelDir, dtype, refPath] = process.argv.slice(2);
if (!modelDir || !dtype || !refPath) {
  console.error("usage: check-model-transformersjs.mjs <model-dir> <fp32|q8> <reference.json>");
  process.exit(2);
}
const abs = path.resolve(modelDir);
env.localModelPath = path.dirname(abs) + path.sep;
env.allowLocalModels = true;
env.allowRemoteModels = false;

const ref = JSON.parse(fs.readFileSync(refPath, "utf8"));
const extractor = await pipeline("feature-extraction", path.basename(abs), { dtype });
const out = await extractor(ref.sentences, { pooling: "mean", normalize: true });
const [n, d] = out.dims;
const cos = ref.embeddings.map((r, i) => {
  let c = 0;
  for (let j = 0; j < d; j++) c += r[j] * out.data[i * d + j];
  return c;
});
let version = "unknown";
try {
  // the package's "exports" map hides package.json from require.resolve: resolve the entry, walk up.
  let dir = path.dirname(createRequire(import.meta.url).resolve("@huggingface/transformers"));
  while (!fs.existsSync(path.join(dir, "package.json")) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  version = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8")).version;
} catch {}
console.log(
  JSON.stringify({
    dtype,
    dims: [n, d],
    min: Math.min(...cos),
    mean: cos.reduce((a, b) => a + b, 0) / cos.length,
    per_sentence: cos,
    model_max_length: extractor.tokenizer.model_max_length,
    transformers: version,
  }),
);
