/**
 * The shared working memory tools an agent calls over MCP: `share` (publish a note to SWM, by
 * default also kept in GLM) and `recent_shared` (list SWM notes newest first).
 * @module
 */
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { z } from "zod";
import { kemInit, kemQueryInit } from "../../sdk/kem-input.ts";
import type { DcsmLink } from "./dcsm-link.ts";
import { register } from "./tool-registration.ts";
import {
  type CallerOf,
  filters,
  filtersWith,
  memory,
  memoryView,
  metadataInput,
  metadataWith,
  namespace,
  paging,
} from "./tool-schemas.ts";

/**
 * Registers the SWM working memory tools on an MCP server.
 * @param server - the MCP server (one per MCP session).
 * @param link - the DCSM clients.
 * @param callerOf - derives the forwarded credentials and the agent id of each call.
 */
export function registerSwmTools(server: McpServer, link: DcsmLink, callerOf: CallerOf): void {
  register(server, callerOf, "share", {
    title: "Share with other agents",
    description:
      "Publish a note to shared working memory, where every agent with access to the namespace sees it at once (live event) and can list it with recent_shared. " +
      "By default it is also kept in long-term memory (and embedded, so recall finds it). Publishing the same id again updates the note.",
    input: {
      text: z.string().min(1).describe("The note (UTF-8, up to 1 MiB)."),
      metadata: metadataInput('Metadata, e.g. {"topic": "deploy", "status": "done"}.'),
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
}
