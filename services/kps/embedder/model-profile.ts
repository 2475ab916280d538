/**
 * How a model wants its inputs and outputs (docs/search.md "Query instructions"): some embedding
 * models are trained with an instruction before queries and/or documents (E5: "query: " /
 * "passage: "; BGE: "Represent this sentence for searching relevant passages: ") or with CLS
 * pooling instead of mean pooling. A local model folder carries this in `dcsm-model.json`;
 * without the file the profile is the sentence-transformers default (no prefixes, mean pooling),
 * which is right for all-MiniLM-L6-v2.
 * @module
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { PreconditionError } from "../../common/errors.ts";
import type { QueryEmbedder } from "../../glm/ports.ts";
import type { Embedder } from "../ports.ts";

/** Name of the profile file in a model folder. */
export const PROFILE_FILE = "dcsm-model.json";

const profileSchema = z
  .object({
    /** Prepended to every search query before embedding. */
    queryPrefix: z.string().max(512).default(""),
    /** Prepended to every stored chunk before embedding. */
    documentPrefix: z.string().max(512).default(""),
    /** Token pooling of the model's last hidden state. */
    pooling: z.enum(["mean", "cls"]).default("mean"),
  })
  .strict();

/** A model's input instructions and pooling. */
export type ModelProfile = z.infer<typeof profileSchema>;

/** The profile of a model whose folder has no profile file. */
export const DEFAULT_PROFILE: Readonly<ModelProfile> = Object.freeze({
  queryPrefix: "",
  documentPrefix: "",
  pooling: "mean",
});

/**
 * Reads `<folder>/dcsm-model.json`, or returns {@link DEFAULT_PROFILE} when there is none.
 * @throws PreconditionError (→ `FailedPrecondition`) when the file is not a valid profile.
 */
export function loadModelProfile(folder: string): ModelProfile {
  const path = join(folder, PROFILE_FILE);
  if (!existsSync(path)) return { ...DEFAULT_PROFILE };
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    throw new PreconditionError(`${path} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  const parsed = profileSchema.safeParse(raw);
  if (!parsed.success)
    throw new PreconditionError(
      `${path} is not a valid model profile: ${parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ")}`,
    );
  return parsed.data;
}

/**
 * The query side of an embedder: texts get the model's query prefix (GLM `text_query`).
 * @param embedder - the (cached, batched) embedder.
 */
export function queryEmbedderOf(embedder: Embedder): QueryEmbedder {
  const prefix = embedder.profile?.queryPrefix ?? "";
  if (!prefix) return embedder;
  return { dimension: embedder.dimension, embed: (texts) => embedder.embed(texts.map((t) => prefix + t)) };
}

/**
 * Texts as the model wants documents (KPS chunks): with the model's document prefix.
 * @param embedder - the embedder whose profile applies.
 * @param texts - the chunk texts.
 */
export function asDocuments(embedder: Embedder, texts: string[]): string[] {
  const prefix = embedder.profile?.documentPrefix ?? "";
  return prefix ? texts.map((t) => prefix + t) : texts;
}
