/**
 * The OpenAI-compatible embeddings API: `POST /v1/embeddings`, `GET /v1/models` and
 * `GET /v1/models/{id}`, as a fetch handler (`Request` → `Response`) the host mounts under `/v1`.
 * IDE tools (Roo Code, Continue, …) and the official `openai` clients point their base URL at
 * `http://host:port/v1`. Shapes follow https://platform.openai.com/docs/api-reference/embeddings.
 * @module
 */
import { timingSafeEqual } from "node:crypto";
import { EMBEDDING_DEFAULTS } from "../../common/defaults.ts";
import type { Embedder } from "../ports.ts";
import { parseEmbeddingsRequest } from "./embeddings-request.ts";
import { combinePieces, type LongInputMode, prepareInputs } from "./long-inputs.ts";
import { errorResponse, invalidRequest, OpenAiError, toOpenAiError } from "./openai-errors.ts";

/** Options of {@link createOpenAiApi}. */
export interface OpenAiApiOptions {
  /** The model, normally behind the cache and the batching queue. */
  embedder: Embedder;
  /** Accepted API keys; empty means no authentication. Ignored when `authorize` is given. @default [] */
  apiKeys?: string[];
  /**
   * Decides whether a request's credentials are good (the server's authenticator,
   * docs/security.md); wins over `apiKeys`.
   */
  authorize?: (req: Request) => Promise<boolean>;
  /** Most inputs per request (400 `too_many_inputs` beyond). @default 2048 */
  maxInputs?: number;
  /** Long-input handling when the request does not say. @default "truncate" */
  longInput?: LongInputMode;
  /** Most windows pooled per input in "pool" mode. @default 16 */
  maxPoolWindows?: number;
  /** False while the model warms up: requests get 503 with Retry-After. @default () => true */
  ready?: () => boolean;
  /** Called with every 5xx cause (for logging). */
  onError?: (err: unknown) => void;
  /** Unix time (s) reported as the model's `created`. @default the time of this call */
  createdAt?: number;
}

/** The API: one fetch handler. */
export interface OpenAiApi {
  /** Serves a request whose path starts with `/v1/`; unknown paths answer 404 in OpenAI's shape. */
  fetch(req: Request): Promise<Response>;
}

/** Header telling how many inputs were cut at the model's window (or at the pooling limit). */
export const TRUNCATED_HEADER = "x-dcsm-truncated-inputs";
/** Header telling how many inputs were embedded as several pooled windows. */
export const POOLED_HEADER = "x-dcsm-pooled-inputs";

/** Little-endian float32 bytes of `v`, base64 (what OpenAI sends for `encoding_format: "base64"`). */
export function float32ToBase64(v: Float32Array): string {
  const bytes = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] === 1) return Buffer.from(bytes).toString("base64");
  const le = new DataView(new ArrayBuffer(v.byteLength));
  for (let i = 0; i < v.length; i++) le.setFloat32(i * 4, v[i]!, true);
  return Buffer.from(le.buffer).toString("base64");
}

/**
 * Creates the API.
 *
 * Statuses: 200; 400 bad body or parameters; 401 missing or wrong key (`Authorization: Bearer` or
 * `api-key` header) when keys are configured; 404 unknown model or path; 405 wrong method; 429 queue
 * full (with `Retry-After`); 503 while warming up; 500 otherwise (cause passed to `onError` only).
 */
export function createOpenAiApi(options: OpenAiApiOptions): OpenAiApi {
  const { embedder } = options;
  const maxInputs = options.maxInputs ?? EMBEDDING_DEFAULTS.openaiMaxInputs;
  const keys = (options.apiKeys ?? []).filter((k) => k !== "").map((k) => Buffer.from(k));
  const created = options.createdAt ?? Math.floor(Date.now() / 1000);
  const modelObject = { id: embedder.modelId, object: "model", created, owned_by: "dcsm" };
  const baseName = (id: string) => id.slice(id.lastIndexOf("/") + 1).toLowerCase();

  function authorized(req: Request): boolean {
    if (keys.length === 0) return true;
    const auth = req.headers.get("authorization") ?? "";
    const given = /^Bearer\s+(.+)$/i.exec(auth)?.[1]?.trim() ?? req.headers.get("api-key")?.trim() ?? "";
    const g = Buffer.from(given);
    return keys.some((k) => k.length === g.length && timingSafeEqual(k, g));
  }

  function checkModel(model: string | undefined): void {
    if (model === undefined || model === "" || baseName(model) === baseName(embedder.modelId)) return;
    throw new OpenAiError(
      404,
      `The model '${model}' does not exist; this server serves '${embedder.modelId}'.`,
      "invalid_request_error",
      "model_not_found",
      "model",
    );
  }

  async function embeddings(req: Request): Promise<Response> {
    let body: unknown;
    try {
      body = await req.json();
    } catch {
      throw invalidRequest("The request body is not valid JSON.");
    }
    const parsed = parseEmbeddingsRequest(body, embedder.tokenizer, { maxInputs, dimension: embedder.dimension });
    checkModel(parsed.model);
    const prepared = prepareInputs(
      parsed.texts,
      embedder,
      parsed.longInput ?? options.longInput ?? "truncate",
      options.maxPoolWindows,
    );
    const vectors = combinePieces(await embedder.embed(prepared.pieces, { signal: req.signal }), prepared);
    const base64 = parsed.encodingFormat === "base64";
    const data = vectors.map((v, index) => ({
      object: "embedding",
      index,
      embedding: base64 ? float32ToBase64(v) : Array.from(v),
    }));
    const res = {
      object: "list",
      data,
      model: embedder.modelId,
      usage: { prompt_tokens: prepared.tokens, total_tokens: prepared.tokens },
    };
    return new Response(JSON.stringify(res), {
      headers: {
        "content-type": "application/json",
        [TRUNCATED_HEADER]: String(prepared.truncated),
        [POOLED_HEADER]: String(prepared.pooled),
      },
    });
  }

  async function route(req: Request): Promise<Response> {
    const path = new URL(req.url).pathname.replace(/\/+$/, "");
    const known = path === "/v1/embeddings" || path === "/v1/models" || path.startsWith("/v1/models/");
    if (!known) throw new OpenAiError(404, `Unknown path ${path}.`, "invalid_request_error", "unknown_url");
    if (!(options.authorize ? await options.authorize(req) : authorized(req))) {
      throw new OpenAiError(
        401,
        "Incorrect or missing API key. Send 'Authorization: Bearer <key>' or 'api-key: <key>'.",
        "invalid_request_error",
        "invalid_api_key",
      );
    }
    if (path === "/v1/embeddings") {
      if (req.method !== "POST")
        throw new OpenAiError(
          405,
          "Use POST for /v1/embeddings.",
          "invalid_request_error",
          "method_not_allowed",
          null,
          { allow: "POST" },
        );
      if (options.ready && !options.ready()) {
        throw new OpenAiError(
          503,
          "The embedding model is warming up; retry shortly.",
          "server_error",
          "model_not_ready",
          null,
          { "retry-after": "2" },
        );
      }
      return embeddings(req);
    }
    if (req.method !== "GET")
      throw new OpenAiError(405, `Use GET for ${path}.`, "invalid_request_error", "method_not_allowed", null, {
        allow: "GET",
      });
    if (path === "/v1/models") return Response.json({ object: "list", data: [modelObject] });
    let id: string;
    try {
      id = decodeURIComponent(path.slice("/v1/models/".length));
    } catch {
      throw invalidRequest("The model id in the path is not valid percent-encoding.");
    }
    checkModel(id);
    return Response.json({ ...modelObject });
  }

  return {
    async fetch(req) {
      try {
        return await route(req);
      } catch (err) {
        const e = toOpenAiError(err);
        if (e.status >= 500 && !req.signal.aborted) options.onError?.(err);
        return errorResponse(e);
      }
    },
  };
}
