/**
 * How the MCP server reaches DCSM: typed Connect clients of GLM, KPS and SWM on one transport, and
 * the OpenAI-compatible `/v1/embeddings` endpoint (used to re-embed a KEM whose text an agent
 * edits). The same link serves both MCP transports: over Streamable HTTP it is an in-process
 * router transport, with the caller's own bearer token forwarded on every call so the per-RPC
 * authentication and namespace guards apply unchanged; over stdio it is a network transport to a
 * running DCSM (or an embedded one) carrying `DCSM_TOKEN`.
 * @module
 */
import type { Transport } from "@connectrpc/connect";
import { createDcsmServiceClients, type DcsmServiceClients } from "../../sdk/index.ts";

/** Per-call options forwarded to every RPC of one tool call. */
export interface LinkCallOptions {
  /** Extra request headers, e.g. `authorization: Bearer <the MCP caller's token>`. */
  headers?: Record<string, string>;
  /** Aborts the RPC when the MCP request is cancelled. */
  signal?: AbortSignal;
}

/** Fetches from the DCSM HTTP listener (`/v1/embeddings`); `path` starts with "/". */
export type DcsmFetch = (path: string, init: RequestInit) => Promise<Response>;

/** The DCSM services as the MCP tools see them. */
export interface DcsmLink extends DcsmServiceClients {
  /**
   * Embeds one text with the server's model through `POST /v1/embeddings` (OpenAI-compatible, see
   * services/kps/openai/openai-api.ts), so a KEM updated through MCP is found by its new text.
   * @returns the embedding (the model's dimension, e.g. 384).
   * @throws Error carrying the endpoint's HTTP status and message (401 without valid credentials,
   *   429 when the embedding queue is full, 503 while the model warms up).
   */
  embed(text: string, options?: LinkCallOptions): Promise<number[]>;
}

/**
 * Builds a link on a Connect transport.
 * @param transport - any Connect transport to a DCSM (in-process router transport or network).
 * @param fetchDcsm - how to reach the DCSM HTTP listener for `/v1/embeddings`.
 */
export function createDcsmLink(transport: Transport, fetchDcsm: DcsmFetch): DcsmLink {
  return {
    ...createDcsmServiceClients(transport),
    async embed(text, options) {
      const res = await fetchDcsm("/v1/embeddings", {
        method: "POST",
        headers: { "content-type": "application/json", ...options?.headers },
        body: JSON.stringify({ input: text }),
        signal: options?.signal,
      });
      const body = (await res.json().catch(() => undefined)) as
        | { data?: { embedding?: number[] }[]; error?: { message?: string } }
        | undefined;
      const embedding = body?.data?.[0]?.embedding;
      if (!res.ok || !Array.isArray(embedding))
        throw new EmbeddingError(res.status, body?.error?.message ?? `POST /v1/embeddings answered ${res.status}`);
      return embedding;
    },
  };
}

/** `/v1/embeddings` refused or failed; `status` is its HTTP status. */
export class EmbeddingError extends Error {
  /** HTTP status of the embeddings endpoint (401, 429, 503, ...). */
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.name = "EmbeddingError";
    this.status = status;
  }
}

/**
 * A {@link DcsmFetch} to a DCSM at `baseUrl` over the network.
 * @param baseUrl - e.g. "http://127.0.0.1:8080" or "https://dcsm.internal:8443".
 * @param token - API key or JWT sent as `authorization: Bearer` unless the call sets its own.
 * @param ca - PEM CA certificate(s) to trust for an `https://` URL with a private certificate.
 */
export function networkFetch(baseUrl: string, token?: string, ca?: string | Buffer): DcsmFetch {
  const base = baseUrl.replace(/\/+$/, "");
  return (path, init) => {
    const headers = new Headers(init.headers);
    if (token && !headers.has("authorization")) headers.set("authorization", `Bearer ${token}`);
    return fetch(`${base}${path}`, { ...init, headers, ...(ca ? { tls: { ca: ca.toString() } } : {}) } as RequestInit);
  };
}
