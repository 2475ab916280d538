/**
 * Friendly KEM inputs for the Agent SDK: text or bytes content, plain JSON metadata, queries with
 * plain values and `Date`s.
 * Browser-safe: no `node:` or `bun:` imports.
 * @module
 */
import type { JsonObject, MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate, type ValueSchema } from "@bufbuild/protobuf/wkt";
import { type KEM, type KEMQuerySchema, type KEMSchema, SearchMode } from "./gen/dcsm/v1/kem_pb.ts";

/** A KEM to store or publish. Timestamps are always set by the server. */
export interface KemInput {
  /** Id; empty or absent lets the server (GLM) or the SDK (SWM publish) assign a UUIDv7. At most 128 characters. */
  id?: string;
  /** MIME type of the content. @default "text/plain" (server side) */
  contentType?: string;
  /** Content: a string is UTF-8 encoded. Server limit `DCSM_MAX_CONTENT_BYTES` (1 MiB by default). */
  content?: string | Uint8Array;
  /** Metadata: top-level string, number or bool values are filterable; at most 64 KiB of JSON. */
  metadata?: JsonObject;
  /** Embedding (float32 values) of the configured dimension (384 by default), or none. */
  embeddings?: readonly number[];
}

/** Fields of a KEM update (`updateKem`): only the fields given change. */
export interface KemPatch extends Omit<KemInput, "id"> {
  /** Replace the whole metadata object instead of merging key by key (a null value removes a key). @default false */
  replaceMetadata?: boolean;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Converts a {@link KemInput} to the message init shape of `KEM`. */
export function kemInit(k: KemInput): MessageInitShape<typeof KEMSchema> & { embeddings?: number[] } {
  return {
    id: k.id ?? "",
    contentType: k.contentType ?? "",
    content: typeof k.content === "string" ? encoder.encode(k.content) : (k.content ?? new Uint8Array()),
    metadata: k.metadata,
    embeddings: k.embeddings ? [...k.embeddings] : [],
  };
}

/** The content of a KEM decoded as UTF-8 text. */
export function kemText(kem: Pick<KEM, "content">): string {
  return decoder.decode(kem.content);
}

/** A query on SWM or GLM with plain values (every criterion given must hold). */
export interface KemQueryInput {
  /** Only these ids (at most 1000). */
  ids?: readonly string[];
  /** Equality on top-level metadata keys. */
  metadataFilters?: Readonly<Record<string, string | number | boolean>>;
  /** Inclusive bounds on `created_at`. */
  createdAfter?: Date;
  /** Inclusive upper bound on `created_at`. */
  createdBefore?: Date;
  /** Inclusive lower bound on `updated_at`. */
  updatedAfter?: Date;
  /** Inclusive upper bound on `updated_at`. */
  updatedBefore?: Date;
  /** Text query (GLM only; SWM answers `InvalidArgument`): hybrid by default, see `searchMode`. */
  textQuery?: string;
  /** How GLM ranks a text query: "hybrid" (default), "vector" or "lexical" (docs/search.md). */
  searchMode?: SearchModeName;
}

/** The search modes by name, as the SDK, CLI and console accept them. */
export type SearchModeName = "hybrid" | "vector" | "lexical";

/** The `SearchMode` enum value of a mode name (undefined → server default). */
export function searchModeOf(name: SearchModeName | undefined): SearchMode {
  switch (name) {
    case "hybrid":
      return SearchMode.HYBRID;
    case "vector":
      return SearchMode.VECTOR;
    case "lexical":
      return SearchMode.LEXICAL;
    default:
      return SearchMode.UNSPECIFIED;
  }
}

function valueInit(v: string | number | boolean): MessageInitShape<typeof ValueSchema> {
  if (typeof v === "string") return { kind: { case: "stringValue", value: v } };
  if (typeof v === "number") return { kind: { case: "numberValue", value: v } };
  return { kind: { case: "boolValue", value: v } };
}

/** Converts a {@link KemQueryInput} to the message init shape of `KEMQuery`. */
export function kemQueryInit(q: KemQueryInput): MessageInitShape<typeof KEMQuerySchema> {
  const ts = (d: Date | undefined) => (d ? timestampFromDate(d) : undefined);
  return {
    ids: [...(q.ids ?? [])],
    metadataFilters: Object.fromEntries(Object.entries(q.metadataFilters ?? {}).map(([k, v]) => [k, valueInit(v)])),
    createdAtStart: ts(q.createdAfter),
    createdAtEnd: ts(q.createdBefore),
    updatedAtStart: ts(q.updatedAfter),
    updatedAtEnd: ts(q.updatedBefore),
    textQuery: q.textQuery ?? "",
    searchMode: searchModeOf(q.searchMode),
  };
}
