/**
 * Parsing and validation of an OpenAI `POST /v1/embeddings` body
 * (https://platform.openai.com/docs/api-reference/embeddings/create). Every rule answers a 400
 * `invalid_request_error` naming the field, as OpenAI does.
 * @module
 */
import type { EmbedderTokenizer } from "../ports.ts";
import type { LongInputMode } from "./long-inputs.ts";
import { invalidRequest } from "./openai-errors.ts";

/** A validated embeddings request. */
export interface EmbeddingsRequest {
  /** Inputs as text (token-id inputs already decoded with the model's tokenizer). */
  texts: string[];
  /** Requested model, or undefined when the body gave none (the served model is used). */
  model: string | undefined;
  /** `float` (JSON numbers) or `base64` (little-endian float32 bytes). @default "float" */
  encodingFormat: "float" | "base64";
  /** Long-input handling (`dcsm_long_input` extension field), or undefined for the server default. */
  longInput: LongInputMode | undefined;
}

/** Limits applied by {@link parseEmbeddingsRequest}. */
export interface EmbeddingsRequestLimits {
  /** Most inputs in one request. */
  maxInputs: number;
  /** The model's dimension: the only `dimensions` value accepted. */
  dimension: number;
}

const isTokenArray = (v: unknown): v is number[] =>
  Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === "number");

/**
 * Validates a parsed JSON body.
 * @param body - the JSON value.
 * @param tokenizer - decodes token-id inputs.
 * @param limits - input count and dimension.
 * @throws OpenAiError 400 for: a body that is not an object; a missing, empty or mixed `input`;
 *   an empty string; token ids that are not integers in `0 … vocabSize - 1`; more than
 *   `maxInputs` inputs (`code: "too_many_inputs"`); an unknown `encoding_format`; `dimensions`
 *   other than the model's (this model is not trained for shortened vectors, so none are made);
 *   a non-string `model`; an unknown `dcsm_long_input`.
 */
export function parseEmbeddingsRequest(
  body: unknown,
  tokenizer: EmbedderTokenizer,
  limits: EmbeddingsRequestLimits,
): EmbeddingsRequest {
  if (typeof body !== "object" || body === null || Array.isArray(body))
    throw invalidRequest("The request body must be a JSON object.");
  const b = body as Record<string, unknown>;
  if (b.model !== undefined && b.model !== null && typeof b.model !== "string")
    throw invalidRequest("'model' must be a string.", "model");
  const encodingFormat = b.encoding_format ?? "float";
  if (encodingFormat !== "float" && encodingFormat !== "base64") {
    throw invalidRequest(
      `'encoding_format' must be "float" or "base64", got ${JSON.stringify(encodingFormat)}.`,
      "encoding_format",
    );
  }
  if (b.dimensions !== undefined && b.dimensions !== null) {
    if (!Number.isInteger(b.dimensions) || (b.dimensions as number) < 1)
      throw invalidRequest("'dimensions' must be a positive integer.", "dimensions");
    if (b.dimensions !== limits.dimension) {
      throw invalidRequest(
        `This model only makes ${limits.dimension}-dimensional embeddings; 'dimensions' ${b.dimensions} is not supported (omit it or send ${limits.dimension}).`,
        "dimensions",
      );
    }
  }
  const longInput = b.dcsm_long_input ?? undefined;
  if (longInput !== undefined && longInput !== "truncate" && longInput !== "pool") {
    throw invalidRequest(`'dcsm_long_input' must be "truncate" or "pool".`, "dcsm_long_input");
  }

  const input = b.input;
  let raw: (string | number[])[];
  if (typeof input === "string") raw = [input];
  else if (isTokenArray(input)) raw = [input];
  else if (
    Array.isArray(input) &&
    input.length > 0 &&
    (input.every((x) => typeof x === "string") || input.every(isTokenArray))
  )
    raw = input as (string | number[])[];
  else if (input === undefined || input === null) throw invalidRequest("'input' is required.", "input");
  else
    throw invalidRequest(
      "'input' must be a non-empty string, an array of non-empty strings, an array of token ids, or an array of token-id arrays.",
      "input",
    );
  if (raw.length > limits.maxInputs) {
    throw invalidRequest(
      `'input' has ${raw.length} items; at most ${limits.maxInputs} are allowed per request (DCSM_OPENAI_MAX_INPUTS).`,
      "input",
      "too_many_inputs",
    );
  }
  const texts = raw.map((x, i) => {
    if (typeof x === "string") {
      if (x.length === 0) throw invalidRequest(`'input[${i}]' is an empty string.`, "input");
      return x;
    }
    for (const id of x) {
      if (!Number.isInteger(id) || id < 0 || id >= tokenizer.vocabSize) {
        throw invalidRequest(
          `'input' token id ${id} is not valid for this model (0 … ${tokenizer.vocabSize - 1}).`,
          "input",
        );
      }
    }
    return tokenizer.decode(x);
  });
  return { texts, model: typeof b.model === "string" ? b.model : undefined, encodingFormat, longInput };
}
