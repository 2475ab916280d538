/**
 * The shapes every DCSM MCP tool shares: who is calling ({@link ToolCaller}), the result limits,
 * the zod schemas of namespaces, metadata filters, time ranges, paging and a memory (KEM) as a
 * tool returns it, and the conversions from tool input to KEM query fields.
 * @module
 */
import type { JsonObject } from "@bufbuild/protobuf";
import { type Timestamp, timestampDate } from "@bufbuild/protobuf/wkt";
import { z } from "zod";
import type { KEM } from "../../sdk/index.ts";
import { kemText } from "../../sdk/kem-input.ts";
import type { LinkCallOptions } from "./dcsm-link.ts";

/** Who is calling one tool: the options every RPC of the call carries, and the agent id for SWM. */
export interface ToolCaller {
  /** Headers (the caller's bearer token over HTTP) and the cancellation signal. */
  call: LinkCallOptions;
  /** Agent id used as SWM publisher and lock holder unless the tool input names one. */
  agentId: string;
}

/** Turns the SDK's per-request `extra` into a {@link ToolCaller}. */
export type CallerOf = (extra: { authInfo?: { token: string }; signal: AbortSignal; sessionId?: string }) => ToolCaller;

/** Most results one `recall`, `list_recent` or `recent_shared` call returns. */
export const MAX_RESULTS = 100;
/** Most ids one `get_memory` call takes. */
export const MAX_IDS = 100;

export const metadataValue = z.union([z.string(), z.number(), z.boolean()]);
export const namespace = z
  .string()
  .regex(/^[A-Za-z0-9_.-]{1,64}$/)
  .optional()
  .describe("DCSM namespace (1-64 of letters, digits, _ - .). Omit to use your credentials' default namespace.");
export const filters = z
  .record(z.string(), metadataValue)
  .optional()
  .describe(
    'Only memories whose metadata has exactly these top-level values, e.g. {"topic": "billing", "source": "ticket"}.',
  );
/** An optional free-form metadata object input, described for the model by `description`. */
export const metadataInput = (description: string) =>
  z.record(z.string(), z.unknown()).optional().describe(description);

export const isoTime = (what: string) =>
  z.iso.datetime({ offset: true }).optional().describe(`${what} (ISO 8601, e.g. "2026-01-31T12:00:00Z"), inclusive.`);
/** `page_size` (1 to MAX_RESULTS, default 20) and `page_token` inputs of a listing of `what` (capitalized). */
export const paging = (what: string) => ({
  page_size: z
    .number()
    .int()
    .min(1)
    .max(MAX_RESULTS)
    .default(20)
    .describe(`${what} per page (1-${MAX_RESULTS}, default 20).`),
  page_token: z.string().optional().describe("Token from a previous call's next_page_token."),
});
export const memory = z.object({
  id: z.string().describe("KEM id; pass it to get_memory, update_memory or forget."),
  text: z.string().describe("The stored text."),
  content_type: z.string().describe('MIME type, e.g. "text/plain".'),
  metadata: z
    .record(z.string(), z.unknown())
    .describe("Metadata, including `namespace` and, for remembered text, `chunk_index`/`chunk_count`."),
  created_at: z.string().optional().describe("Creation time, ISO 8601."),
  updated_at: z.string().optional().describe("Last update time, ISO 8601."),
});
/** A KEM as MCP tools return it. */
export type MemoryView = z.infer<typeof memory>;

/** ISO 8601 of a protobuf timestamp, or undefined. */
function iso(ts: Timestamp | undefined): string | undefined {
  return ts ? timestampDate(ts).toISOString() : undefined;
}

/** A KEM as a JSON-friendly view: UTF-8 text, plain metadata, ISO timestamps (no embedding). */
export function memoryView(kem: KEM): MemoryView {
  return {
    id: kem.id,
    text: kemText(kem),
    content_type: kem.contentType || "text/plain",
    metadata: (kem.metadata ?? {}) as JsonObject,
    created_at: iso(kem.createdAt),
    updated_at: iso(kem.updatedAt),
  };
}

/** Metadata filters with the namespace pinned when given. */
export function filtersWith(
  ns: string | undefined,
  f: Record<string, string | number | boolean> | undefined,
): Record<string, string | number | boolean> {
  return ns === undefined ? { ...f } : { ...f, namespace: ns };
}

/** Metadata with the namespace set when given. */
export function metadataWith(ns: string | undefined, md: Record<string, unknown> | undefined): JsonObject {
  return (ns === undefined ? { ...md } : { ...md, namespace: ns }) as JsonObject;
}

export const date = (s: string | undefined) => (s === undefined ? undefined : new Date(s));

/** Decimal string of a 64-bit integer (the proto3 JSON mapping of int64/uint64: exact beyond 2^53). */
export const int64 = z.string().regex(/^-?\d+$/);
