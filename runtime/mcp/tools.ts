/**
 * The DCSM tools an agent calls over MCP: long-term memory in GLM (written through KPS, which
 * chunks and embeds), shared working memory in SWM, and SWM's coordination primitives (locks with
 * fencing tokens, counters). Every tool has a zod input schema, an output schema and returns
 * `structuredContent` (MCP spec 2025-06-18, "Tools" → "Structured Content"); every DCSM failure
 * comes back as a tool error naming its Connect code (see tool-errors.ts).
 * @module
 */
import type { JsonObject } from "@bufbuild/protobuf";
import { type Timestamp, timestampDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";
import { type KEM, LockStatus, MetadataUpdateMode, ReleaseStatus } from "../../sdk/index.ts";
import { type KemQueryInput, kemInit, kemQueryInit, kemText } from "../../sdk/kem-input.ts";
import type { DcsmLink, LinkCallOptions } from "./dcsm-link.ts";
import { toolError } from "./tool-errors.ts";

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

// ---- shared schemas -----------------------------------------------------------------------------

const metadataValue = z.union([z.string(), z.number(), z.boolean()]);
const namespace = z
  .string()
  .regex(/^[A-Za-z0-9_.-]{1,64}$/)
  .optional()
  .describe("DCSM namespace (1-64 of letters, digits, _ - .). Omit to use your credentials' default namespace.");
const filters = z
  .record(z.string(), metadataValue)
  .optional()
  .describe(
    'Only memories whose metadata has exactly these top-level values, e.g. {"topic": "billing", "source": "ticket"}.',
  );
const isoTime = (what: string) =>
  z.iso.datetime({ offset: true }).optional().describe(`${what} (ISO 8601, e.g. "2026-01-31T12:00:00Z"), inclusive.`);
/** `page_size` (1 to MAX_RESULTS, default 20) and `page_token` inputs of a listing of `what` (capitalized). */
const paging = (what: string) => ({
  page_size: z
    .number()
    .int()
    .min(1)
    .max(MAX_RESULTS)
    .default(20)
    .describe(`${what} per page (1-${MAX_RESULTS}, default 20).`),
  page_token: z.string().optional().describe("Token from a previous call's next_page_token."),
});
const memory = z.object({
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
function filtersWith(
  ns: string | undefined,
  f: Record<string, string | number | boolean> | undefined,
): Record<string, string | number | boolean> {
  return ns === undefined ? { ...f } : { ...f, namespace: ns };
}

/** Metadata with the namespace set when given. */
function metadataWith(ns: string | undefined, md: Record<string, unknown> | undefined): JsonObject {
  return (ns === undefined ? { ...md } : { ...md, namespace: ns }) as JsonObject;
}

const date = (s: string | undefined) => (s === undefined ? undefined : new Date(s));

/** Decimal string of a 64-bit integer (the proto3 JSON mapping of int64/uint64: exact beyond 2^53). */
const int64 = z.string().regex(/^-?\d+$/);

// ---- registration ------------------------------------------------------------------------------

type Shape = Record<string, z.ZodType>;

interface ToolSpec<I extends Shape, O extends Shape> {
  title: string;
  description: string;
  input: I;
  output: O;
  annotations: { readOnlyHint?: boolean; destructiveHint?: boolean; idempotentHint?: boolean; openWorldHint?: boolean };
  run(args: z.infer<z.ZodObject<I>>, caller: ToolCaller): Promise<z.infer<z.ZodObject<O>>>;
}

function register<I extends Shape, O extends Shape>(
  server: McpServer,
  callerOf: CallerOf,
  name: string,
  spec: ToolSpec<I, O>,
): void {
  const handler = async (args: unknown, extra: Parameters<CallerOf>[0]): Promise<CallToolResult> => {
    try {
      const out = (await spec.run(args as z.infer<z.ZodObject<I>>, callerOf(extra))) as Record<string, unknown>;
      return { content: [{ type: "text", text: JSON.stringify(out) }], structuredContent: out };
    } catch (err) {
      return toolError(err);
    }
  };
  // The SDK's generics over zod 3/4 shapes do not follow our generic Shape; the schemas are zod 4.
  (server.registerTool as (n: string, c: object, cb: typeof handler) => void)(
    name,
    {
      title: spec.title,
      description: spec.description,
      inputSchema: spec.input,
      outputSchema: spec.output,
      annotations: { title: spec.title, openWorldHint: false, ...spec.annotations },
    },
    handler,
  );
}

/**
 * Registers every DCSM tool on an MCP server: `remember`, `recall`, `get_memory`,
 * `update_memory`, `forget`, `list_recent`, `share`, `recent_shared`, `acquire_lock`,
 * `release_lock`, `increment_counter`, `get_counter`.
 * @param server - the MCP server (one per MCP session).
 * @param link - the DCSM clients.
 * @param callerOf - derives the forwarded credentials and the agent id of each call.
 */
export function registerDcsmTools(server: McpServer, link: DcsmLink, callerOf: CallerOf): void {
  register(server, callerOf, "remember", {
    title: "Remember",
    description:
      "Store text in long-term shared memory so that you and other agents can recall it later by meaning. " +
      "Long text is split into chunks, each stored as its own memory (KEM) with an embedding. " +
      "Give `id` to make the call idempotent: remembering the same id again replaces that text instead of adding a copy. " +
      "Returns the ids of the stored memories.",
    input: {
      text: z.string().min(1).describe("The text to remember (UTF-8, up to 8 MiB)."),
      metadata: z
        .record(z.string(), z.unknown())
        .optional()
        .describe(
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
      metadata: z.record(z.string(), z.unknown()).optional().describe("Metadata changes."),
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

  register(server, callerOf, "share", {
    title: "Share with other agents",
    description:
      "Publish a note to shared working memory, where every agent with access to the namespace sees it at once (live event) and can list it with recent_shared. " +
      "By default it is also kept in long-term memory (and embedded, so recall finds it). Publishing the same id again updates the note.",
    input: {
      text: z.string().min(1).describe("The note (UTF-8, up to 1 MiB)."),
      metadata: z
        .record(z.string(), z.unknown())
        .optional()
        .describe('Metadata, e.g. {"topic": "deploy", "status": "done"}.'),
      id: z.string().min(1).max(128).optional().describe("Id to publish under; re-using it updates the note."),
      namespace,
      persist: z.boolean().default(true).describe("Also keep it in long-term memory (default true)."),
      agent_id: z
        .string()
        .min(1)
        .max(256)
        .optional()
        .describe("Publisher id shown to other agents; defaults to this MCP session's agent id."),
    },
    output: {
      id: z.string(),
      published: z.boolean(),
      queued_for_long_term: z.boolean().describe("True when it is being written to long-term memory."),
      status: z.string(),
    },
    annotations: { idempotentHint: false },
    async run(a, c) {
      const embeddings = a.persist ? await link.embed(a.text, c.call) : undefined;
      const res = await link.swm.publishKEMToSWM(
        {
          kemToPublish: kemInit({
            id: a.id,
            contentType: "text/plain",
            content: a.text,
            metadata: metadataWith(a.namespace, a.metadata),
            embeddings,
          }),
          persistToGlmIfNewOrUpdated: a.persist,
          agentId: a.agent_id ?? c.agentId,
        },
        c.call,
      );
      return {
        id: res.kemId,
        published: res.publishedToSwm,
        queued_for_long_term: res.queuedForGlmPersistence,
        status: res.statusMessage,
      };
    },
  });

  register(server, callerOf, "recent_shared", {
    title: "Recent shared notes",
    description:
      "List notes in shared working memory, newest first, optionally filtered by metadata and namespace. Pass next_page_token back as page_token for more.",
    input: {
      namespace,
      filters,
      ...paging("Notes"),
    },
    output: { notes: z.array(memory), next_page_token: z.string() },
    annotations: { readOnlyHint: true },
    async run(a, c) {
      const res = await link.swm.querySWM(
        {
          query: kemQueryInit({ metadataFilters: filtersWith(a.namespace, a.filters) }),
          pageSize: a.page_size,
          pageToken: a.page_token ?? "",
        },
        c.call,
      );
      return { notes: res.kems.map(memoryView), next_page_token: res.nextPageToken };
    },
  });

  const resource = z
    .string()
    .min(1)
    .max(256)
    .describe(
      'Lock name as "<namespace>/<name>", e.g. "team-a/deploy-prod" (scoped credentials need the namespace prefix).',
    );
  const holder = z.string().min(1).max(256).optional().describe("Holder id; defaults to this MCP session's agent id.");
  register(server, callerOf, "acquire_lock", {
    title: "Acquire a lock",
    description:
      "Take an exclusive, leased lock shared by all agents, e.g. before editing a shared resource. " +
      "`acquired` is false when another holder has it (after waiting up to wait_ms). Calling again while you hold it renews the lease. " +
      "Pass `fencing_token` along with writes the lock protects: it grows with every new grant, so a write with a smaller token is stale. Release with release_lock and the returned lock_id.",
    input: {
      resource,
      lease_ms: z
        .number()
        .int()
        .min(1)
        .max(3_600_000)
        .optional()
        .describe(
          "Lease in milliseconds; the lock frees itself after it unless renewed (server default when omitted).",
        ),
      wait_ms: z
        .number()
        .int()
        .min(0)
        .max(60_000)
        .default(0)
        .describe("How long to wait for a held lock, in milliseconds (default 0: answer at once)."),
      agent_id: holder,
    },
    output: {
      acquired: z.boolean().describe("True when you hold the lock now (new grant or renewal)."),
      status: z.enum(["acquired", "already_held_by_you", "timeout", "not_available"]),
      resource: z.string(),
      holder: z.string().describe("Your holder id."),
      lock_id: z.string().describe("Id of this grant; needed by release_lock."),
      fencing_token: int64.describe("Monotonic fencing token of this grant (decimal)."),
      lease_expires_at: z.string().optional().describe("When the lease ends, ISO 8601."),
      message: z.string(),
    },
    annotations: { idempotentHint: false },
    async run(a, c) {
      const agentId = a.agent_id ?? c.agentId;
      const res = await link.swm.acquireLock(
        { resourceId: a.resource, agentId, timeoutMs: a.wait_ms, leaseDurationMs: a.lease_ms ?? 0 },
        c.call,
      );
      const status: "acquired" | "already_held_by_you" | "timeout" | "not_available" =
        res.status === LockStatus.ACQUIRED
          ? "acquired"
          : res.status === LockStatus.ALREADY_HELD_BY_YOU
            ? "already_held_by_you"
            : res.status === LockStatus.TIMEOUT
              ? "timeout"
              : "not_available";
      return {
        acquired: status === "acquired" || status === "already_held_by_you",
        status,
        resource: res.resourceId,
        holder: agentId,
        lock_id: res.lockId,
        fencing_token: res.fencingToken.toString(),
        lease_expires_at:
          res.leaseExpiresAtUnixMs > 0n ? new Date(Number(res.leaseExpiresAtUnixMs)).toISOString() : undefined,
        message: res.message,
      };
    },
  });

  register(server, callerOf, "release_lock", {
    title: "Release a lock",
    description:
      "Release a lock you hold, naming the lock_id acquire_lock returned. `released` is false when the lock was not held (lease expired) or is held by another grant.",
    input: { resource, lock_id: z.string().min(1).max(256).describe("lock_id from acquire_lock."), agent_id: holder },
    output: { released: z.boolean(), status: z.enum(["released", "not_held", "invalid_lock_id"]), message: z.string() },
    annotations: { idempotentHint: true },
    async run(a, c) {
      const res = await link.swm.releaseLock(
        { resourceId: a.resource, agentId: a.agent_id ?? c.agentId, lockId: a.lock_id },
        c.call,
      );
      const status: "released" | "not_held" | "invalid_lock_id" =
        res.status === ReleaseStatus.RELEASED
          ? "released"
          : res.status === ReleaseStatus.NOT_HELD
            ? "not_held"
            : "invalid_lock_id";
      return { released: status === "released", status, message: res.message };
    },
  });

  const counter = z
    .string()
    .min(1)
    .max(256)
    .describe('Counter name as "<namespace>/<name>", e.g. "team-a/tickets-done".');
  register(server, callerOf, "increment_counter", {
    title: "Increment a counter",
    description:
      "Atomically add to a counter shared by all agents (created at 0 on first use) and return its new value. Use it for sequence numbers, quotas or progress counts.",
    input: {
      counter,
      by: z
        .number()
        .int()
        .min(-(2 ** 53) + 1)
        .max(2 ** 53 - 1)
        .default(1)
        .describe("Amount to add (default 1; may be negative; 0 adds 1)."),
    },
    output: { counter: z.string(), value: int64.describe("Value after the increment (decimal int64).") },
    annotations: { idempotentHint: false },
    async run(a, c) {
      const res = await link.swm.incrementCounter({ counterId: a.counter, incrementBy: BigInt(a.by) }, c.call);
      return { counter: res.counterId, value: res.currentValue.toString() };
    },
  });

  register(server, callerOf, "get_counter", {
    title: "Read a counter",
    description: "Read a shared counter's current value (0 when it was never incremented).",
    input: { counter },
    output: { counter: z.string(), value: int64.describe("Current value (decimal int64).") },
    annotations: { readOnlyHint: true },
    async run(a, c) {
      const res = await link.swm.getCounter({ counterId: a.counter }, c.call);
      return { counter: res.counterId, value: res.currentValue.toString() };
    },
  });
}
