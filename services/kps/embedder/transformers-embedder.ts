/**
 * The embedding model on `@huggingface/transformers` (feature-extraction, mean pooling, L2
 * normalization; README "The embedding model"). Loads a local model folder in the Transformers.js layout
 * (`<modelDir>/<modelId>/{config.json,tokenizer.json,onnx/model_quantized.onnx}`) and, when allowed,
 * downloads any other Hugging Face model id the usual way.
 * @module
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { EMBEDDING_DEFAULTS } from "../../common/defaults.ts";
import { PreconditionError } from "../../common/errors.ts";
import type { Embedder } from "../ports.ts";
import { DEFAULT_PROFILE, loadModelProfile } from "./model-profile.ts";

/** Options of {@link createTransformersEmbedder}. */
export interface TransformersEmbedderOptions {
  /** Model id: a folder under `modelDir`, or a Hugging Face id. @default "all-MiniLM-L6-v2" */
  modelId: string;
  /** Folder holding local models (Transformers.js layout). */
  modelDir: string;
  /** Allow downloading from the Hugging Face hub when the model is not in `modelDir`. @default true */
  allowDownload?: boolean;
  /** Where downloaded models are cached. */
  cacheDir?: string;
  /**
   * ONNX weights variant: "q8" (`model_quantized.onnx`), "fp32" (`model.onnx`), ... The default was
   * chosen by measurement against fp32, dynamic int8 and fused graphs (models/all-MiniLM-L6-v2/PROVENANCE.md,
   * "Choice of the default file"). @default "q8"
   */
  dtype?: "q8" | "fp32" | "fp16" | "int8" | "uint8" | "q4";
  /** Inputs per model call (the server passes `DCSM_EMBED_BATCH`, default 16). @default 16 */
  batchSize?: number;
  /** CPU threads for one model call; 0 lets ONNX Runtime decide. @default 0 */
  threads?: number;
  /**
   * Most padded tokens per model call (inputs × longest input): long inputs go in smaller batches,
   * so one long input never pads a whole batch to the window
   * (docs/decisions/0008-bounded-embedding-queue.md). @default batchSize × 64
   */
  maxBatchTokens?: number;
  /** ONNX Runtime CPU memory arena (faster reuse; grows with shape variety). @default true */
  cpuArena?: boolean;
  /**
   * Let ONNX Runtime's worker threads spin while they wait for work (its own default). Off here:
   * the spinning holds cores that a hybrid query's other parts (the lexical thread, the vector
   * search) need at the same moment; on the 2-core bench machine turning it off took a 1M-KEM
   * hybrid query from p50 20.2 to 13.9 ms and cost KPS ingest 2–4% (docs/search.md "Hybrid").
   * @default false
   */
  spinWait?: boolean;
}

const DTYPE_FILES: Record<string, string> = {
  q8: "model_quantized.onnx",
  fp32: "model.onnx",
  fp16: "model_fp16.onnx",
  int8: "model_int8.onnx",
  uint8: "model_uint8.onnx",
  q4: "model_q4.onnx",
};

type Extractor = ((
  texts: string[],
  opts: { pooling: "mean" | "cls"; normalize: boolean },
) => Promise<{ data: Float32Array; dims: number[] }>) & {
  tokenizer: {
    (texts: string[], opts?: Record<string, unknown>): { input_ids: { dims: number[] } };
    model_max_length?: number;
    encode(text: string, opts?: { add_special_tokens?: boolean }): number[];
    decode(ids: number[], opts?: { skip_special_tokens?: boolean }): string;
    get_vocab(): Map<string, number> | Record<string, number>;
  };
  model: { config: { hidden_size?: number; max_position_embeddings?: number }; dispose(): Promise<void> };
};

/**
 * Loads the model and returns an {@link Embedder}. Calls to `embed` run one at a time (the model
 * already uses every core); inputs are sorted by length inside a call to reduce padding.
 * @param options - model id, folders, dtype and batch size.
 * @throws PreconditionError (→ `FailedPrecondition`) naming every place looked in when the model
 *   cannot be found or loaded. Never falls back to random vectors.
 */
export async function createTransformersEmbedder(options: TransformersEmbedderOptions): Promise<Embedder> {
  const tf = await import("@huggingface/transformers");
  const dtype = options.dtype ?? "q8";
  const localDir = join(options.modelDir, options.modelId);
  const localFile = join(localDir, "onnx", DTYPE_FILES[dtype] ?? `model_${dtype}.onnx`);
  const isLocal = existsSync(localFile) && existsSync(join(localDir, "tokenizer.json"));
  const allowDownload = options.allowDownload ?? true;
  tf.env.localModelPath = options.modelDir.endsWith("/") ? options.modelDir : `${options.modelDir}/`;
  tf.env.allowLocalModels = true;
  tf.env.allowRemoteModels = !isLocal && allowDownload;
  if (options.cacheDir) tf.env.cacheDir = options.cacheDir;
  if (!isLocal && !allowDownload) {
    throw new PreconditionError(
      `embedding model "${options.modelId}" (${dtype}) not found: looked for ${localFile} and ${join(localDir, "tokenizer.json")}; downloads are disabled (DCSM_MODEL_OFFLINE). Set DCSM_MODEL_DIR to a folder holding ${options.modelId}/, or allow downloads.`,
    );
  }
  let extractor: Extractor;
  try {
    // Memory patterns are planned per input shape; with dynamic batch × length shapes they only
    // grow memory (measured: +14% RSS over 60 mixed batches), so they are off.
    const sessionOptions = {
      enableMemPattern: false,
      enableCpuMemArena: options.cpuArena ?? true,
      ...(options.threads ? { intraOpNumThreads: options.threads, interOpNumThreads: 1 } : {}),
      ...(options.spinWait
        ? {}
        : { extra: { session: { intra_op: { allow_spinning: "0" }, inter_op: { allow_spinning: "0" } } } }),
    };
    extractor = (await tf.pipeline("feature-extraction", options.modelId, {
      dtype,
      device: "cpu",
      session_options: sessionOptions,
    })) as unknown as Extractor;
  } catch (err) {
    throw new PreconditionError(
      `embedding model "${options.modelId}" (${dtype}) could not be loaded: looked for ${localFile}${isLocal ? "" : allowDownload ? " and on the Hugging Face hub" : ""}: ${(err as Error).message}`,
      { cause: err },
    );
  }
  const profile = isLocal ? loadModelProfile(localDir) : { ...DEFAULT_PROFILE };
  const dimension = extractor.model.config.hidden_size ?? 0;
  const maxTokens = Math.min(
    extractor.tokenizer.model_max_length ?? 512,
    extractor.model.config.max_position_embeddings ?? 512,
  );
  const batchSize = Math.max(1, options.batchSize ?? EMBEDDING_DEFAULTS.batchSize);
  const maxBatchTokens = Math.max(maxTokens, options.maxBatchTokens ?? batchSize * 64);
  /** Token estimate from characters (WordPiece averages ~4 characters per token on code and prose). */
  const estimate = (text: string) => Math.min(maxTokens, Math.ceil(text.length / 3) + 2);
  let chain: Promise<unknown> = Promise.resolve();

  async function run(texts: string[]): Promise<Float32Array[]> {
    const order = texts.map((_, i) => i).sort((a, b) => texts[a]!.length - texts[b]!.length);
    const out = new Array<Float32Array>(texts.length);
    for (let start = 0; start < order.length; ) {
      // Sorted by length, so the last input added is the longest: it sets the padded size.
      let end = start + 1;
      while (
        end < order.length &&
        end - start < batchSize &&
        (end - start + 1) * estimate(texts[order[end]!]!) <= maxBatchTokens
      )
        end++;
      const idx = order.slice(start, end);
      start = end;
      const tensor = await extractor(
        idx.map((i) => texts[i]!),
        { pooling: profile.pooling, normalize: true },
      );
      const [n, d] = tensor.dims as [number, number];
      for (let j = 0; j < n; j++) out[idx[j]!] = tensor.data.slice(j * d, (j + 1) * d);
    }
    return out;
  }

  const vocab = extractor.tokenizer.get_vocab();
  const vocabSize = vocab instanceof Map ? vocab.size : Object.keys(vocab).length;

  return {
    modelId: options.modelId,
    profile,
    dimension,
    maxTokens,
    tokenizer: {
      vocabSize,
      encode: (text, special = true) => extractor.tokenizer.encode(text, { add_special_tokens: special }),
      decode: (ids) => extractor.tokenizer.decode(ids, { skip_special_tokens: true }),
    },
    embed(texts) {
      if (texts.length === 0) return Promise.resolve([]);
      const next = chain.then(() => run(texts));
      chain = next.catch(() => undefined);
      return next;
    },
    async countTokens(texts) {
      return texts.map((t) => extractor.tokenizer.encode(t).length);
    },
    async dispose() {
      await extractor.model.dispose();
    },
  };
}
