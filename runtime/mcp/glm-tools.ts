/**
 * The long-term memory tools an agent calls over MCP: `remember` (written through KPS, which
 * chunks and embeds), `recall`, `get_memory`, `update_memory`, `forget` and `list_recent` on GLM.
 * @module
 */
import type { JsonObject } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { z } from "zod";
import { MetadataUpdateMode } from "../../sdk/index.ts";
import { type KemQueryInput, kemInit, kemQueryInit } from "../../sdk/kem-input.ts";
import type { DcsmLink } from "./dcsm-link.ts";
import { register } from "./tool-registration.ts";
import {
  type CallerOf,
  date,
  filters,
  filtersWith,
  isoTime,
  MAX_IDS,
  MAX_RESULTS,
  memory,
  memoryView,
  metadataInput,
  metadataWith,
  namespace,
  paging,
} from "./tool-schemas.ts";

/**
 * Registers the GLM long-term memory tools on an MCP server.
 * @param server - the MCP server (one per MCP session).
 * @param link - the DCSM clients.
 * @param callerOf - derives the forwarded credentials and the agent id of each call.
 */
export function registerGlmTools(server: McpServer, link: DcsmLink, callerOf: CallerOf): void {
  register(server, callerOf, "remember", {
    title: "Remember",
    description:
      "Store text in long-term shared memory so that you and other agents can recall it later by meaning. " +
      "Long text is split into chunks, each stored as its own memory (KEM) with an embedding. " +
      "Give `id` to make the call idempotent: remembering the same id again replaces that text instead of adding a copy. " +
      "Returns the ids of the stored memories.",
    input: {
      text: z.string().min(1).describe("The text to remember (UTF-8, up to 8 MiB)."),
      metadata: metadataInput(
        'Metadata to attach, e.g. {"topic": "billing", "source": "call-2026-01-31"}. Top-level string/number/bool values can be used as filters later.',
      ),
      id: z
        .string()
        .min(1)
        .max(128)
        .optional()
        .describe("Stable id of this piece of knowledge (e.g. a document or note id); re-using it updates in place."),
      namespace,
      content_type: z
        .string()
        .optional()
        .describe('MIME type of the text, e.g. "text/markdown" (chunked on headings) or "text/plain" (default).'),
    },
    output: {
      ids: z.array(z.string()).describe("Ids of the stored memories, one per chunk, in order."),
      chunks: z.number().int().describe("Number of chunks stored."),
      status: z.string().describe("Summary from the knowledge processor."),
    },
    annotations: { idempotentHint: false },
    async run(a, c) {
      const res = await link.kps.processRawData(
        {
          dataId: a.id ?? "",
          contentType: a.content_type ?? "text/plain",
          rawContent: new TextEncoder().encode(a.text),
          initialMetadata: metadataWith(a.namespace, a.metadata),
        },
        c.call,
      );
      return { ids: res.kemIds, chunks: res.kemIds.length, status: res.statusMessage };
    },
  });

  register(server, callerOf, "recall", {
    title: "Recall",
    description:
      "Search long-term shared memory: returns the memories most relevant to `query`, best first, with a score (higher is better). " +
      "By default the search is hybrid: by meaning and by exact words (names, codes, identifiers) together. Use mode `lexical` for exact words only, `vector` for meaning only. " +
      "Narrow with metadata `filters`, a `namespace` and creation/update time ranges.",
    input: {
      query: z.string().min(1).describe("What you are looking for, in natural language or keywords."),
      k: z
        .number()
        .int()
        .min(1)
        .max(MAX_RESULTS)
        .default(5)
        .describe(`How many results (1-${MAX_RESULTS}, default 5).`),
      mode: z
        .enum(["hybrid", "vector", "lexical"])
        .default("hybrid")
        .describe("hybrid (default): meaning and exact words; vector: meaning only; lexical: exact words only."),
      namespace,
      filters,
      created_after: isoTime("Only memories created at or after this time"),
      created_before: isoTime("Only memories created at or before this time"),
      updated_after: isoTime("Only memories updated at or after this time"),
      updated_before: isoTime("Only memories updated at or before this time"),
    },
    output: {
      results: z.array(
        memory.extend({
          score: z
            .number()
            .describe(
              "Relevance in the chosen mode: fused rank score (hybrid), cosine similarity (vector) or BM25 (lexical); higher is better.",
            ),
        }),
      ),
    },
    annotations: { readOnlyHint: true },
    async run(a, c) {
      const q: KemQueryInput = {
        textQuery: a.query,
        searchMode: a.mode,
        metadataFilters: filtersWith(a.namespace, a.filters),
        createdAfter: date(a.created_after),
        createdBefore: date(a.created_before),
        updatedAfter: date(a.updated_after),
        updatedBefore: date(a.updated_before),
      };
      const res = await link.glm.retrieveKEMs({ query: kemQueryInit(q), pageSize: a.k }, c.call);
      return { results: res.kems.map((k, i) => ({ ...memoryView(k), score: res.scores[i] ?? 0 })) };
    },
  });

  register(server, callerOf, "get_memory", {
    title: "Get memories",
    description:
      "Read memories by id (as returned by remember, recall or list_recent). Ids that do not exist, or that you may not read, are listed in `missing`.",
    input: { ids: z.array(z.string().min(1).max(128)).min(1).max(MAX_IDS).describe(`Memory ids (1-${MAX_IDS}).`) },
    output: { memories: z.array(memory), missing: z.array(z.string()).describe("Requested ids not found.") },
    annotations: { readOnlyHint: true },
    async run(a, c) {
      const ids = [...new Set(a.ids)];
      const res = await link.glm.retrieveKEMs({ query: kemQueryInit({ ids }), pageSize: ids.length }, c.call);
      const found = new Set(res.kems.map((k) => k.id));
      return { memories: res.kems.map(memoryView), missing: ids.filter((id) => !found.has(id)) };
    },
  });

  register(server, callerOf, "update_memory", {
    title: "Update a memory",
    description:
      "Change one memory's text and/or metadata. New text is re-embedded, so recall finds it by its new meaning (text beyond the model's window, about 256 tokens, is not searchable: forget and remember long text instead). " +
      'Metadata is merged key by key by default (a key set to null is removed); metadata_mode "replace" replaces it whole.',
    input: {
      id: z.string().min(1).max(128).describe("Id of the memory to change."),
      text: z.string().min(1).optional().describe("New text."),
      metadata: metadataInput("Metadata changes."),
      metadata_mode: z.enum(["merge", "replace"]).default("merge").describe('"merge" (default) or "replace".'),
    },
    output: { memory },
    annotations: { idempotentHint: true },
    async run(a, c) {
      if (a.text === undefined && a.metadata === undefined)
        throw new ConnectError("give text, metadata or both", Code.InvalidArgument);
      const paths: string[] = [];
      const update = kemInit({ content: a.text, metadata: a.metadata as JsonObject | undefined });
      if (a.text !== undefined) {
        paths.push("content", "embeddings");
        update.embeddings = await link.embed(a.text, c.call);
      }
      if (a.metadata !== undefined) paths.push("metadata");
      const res = await link.glm.updateKEM(
        {
          kemId: a.id,
          kemDataUpdate: update,
          updateMask: { paths },
          metadataMode: a.metadata_mode === "replace" ? MetadataUpdateMode.REPLACE : MetadataUpdateMode.MERGE,
        },
        c.call,
      );
      return { memory: memoryView(res.kem!) };
    },
  });

  register(server, callerOf, "forget", {
    title: "Forget",
    description:
      "Delete one memory (its text, metadata and embedding) from long-term memory for every agent. Fails with not_found when the id does not exist.",
    input: { id: z.string().min(1).max(128).describe("Id of the memory to delete.") },
    output: { id: z.string(), deleted: z.boolean() },
    annotations: { destructiveHint: true, idempotentHint: false },
    async run(a, c) {
      await link.glm.deleteKEM({ kemId: a.id }, c.call);
      return { id: a.id, deleted: true };
    },
  });

  register(server, callerOf, "list_recent", {
    title: "List recent memories",
    description:
      "List long-term memories newest first (by last update), optionally filtered by metadata, namespace and update time. " +
      "When `next_page_token` is not empty, pass it back as `page_token` for the next page.",
    input: {
      namespace,
      filters,
      updated_after: isoTime("Only memories updated at or after this time"),
      updated_before: isoTime("Only memories updated at or before this time"),
      ...paging("Memories"),
    },
    output: {
      memories: z.array(memory),
      next_page_token: z.string().describe("Empty when there are no more memories."),
    },
    annotations: { readOnlyHint: true },
    async run(a, c) {
      const q = kemQueryInit({
        metadataFilters: filtersWith(a.namespace, a.filters),
        updatedAfter: date(a.updated_after),
        updatedBefore: date(a.updated_before),
      });
      const res = await link.glm.retrieveKEMs(
        { query: q, pageSize: a.page_size, pageToken: a.page_token ?? "" },
        c.call,
      );
      return { memories: res.kems.map(memoryView), next_page_token: res.nextPageToken };
    },
  });
}
