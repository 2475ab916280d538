/**
 * MCP resources of DCSM (MCP spec 2025-06-18, "Resources"): one KEM as text with its metadata
 * (`kem://{id}`), and a namespace's most recently updated memories
 * (`kem-namespace://{namespace}/recent`). Both read through GLM with the caller's credentials,
 * so namespace scopes apply as for every RPC.
 * @module
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { type McpServer, ResourceTemplate } from "@modelcontextprotocol/sdk/server/mcp.js";
import { ErrorCode, McpError, type ReadResourceResult } from "@modelcontextprotocol/sdk/types.js";
import { codeName } from "../../sdk/code-names.ts";
import { kemQueryInit } from "../../sdk/kem-input.ts";
import type { DcsmLink } from "./dcsm-link.ts";
import { type CallerOf, type MemoryView, memoryView } from "./tools.ts";

/** JSON-RPC error code of an unknown resource (MCP spec, "Resources" → "Error Handling"). */
export const RESOURCE_NOT_FOUND = -32002;
/** Memories listed by a `kem-namespace://{namespace}/recent` read. */
export const RECENT_RESOURCE_SIZE = 20;

/**
 * Key of `authInfo.extra` naming the namespaces the caller may read (set by the HTTP endpoint;
 * absent over stdio, or empty for callers reading every namespace): resources/list offers their
 * `kem-namespace://{namespace}/recent` resources.
 */
export const READABLE_NAMESPACES = "dcsmReadableNamespaces";

/** A memory as a text document: its text, then its id, timestamps and metadata. */
export function renderMemory(m: MemoryView): string {
  return `${m.text}\n\n---\nid: ${m.id}\ncontent_type: ${m.content_type}\ncreated_at: ${m.created_at ?? ""}\nupdated_at: ${m.updated_at ?? ""}\nmetadata: ${JSON.stringify(m.metadata)}\n`;
}

/** A DCSM failure as the JSON-RPC error of a resource read. */
function resourceError(err: unknown, uri: string): McpError {
  if (err instanceof McpError) return err;
  if (err instanceof ConnectError) {
    const rpc =
      err.code === Code.NotFound
        ? RESOURCE_NOT_FOUND
        : err.code === Code.InvalidArgument
          ? ErrorCode.InvalidParams
          : ErrorCode.InternalError;
    return new McpError(rpc, `DCSM error ${codeName(err.code)} reading ${uri}: ${err.rawMessage}`);
  }
  return new McpError(
    ErrorCode.InternalError,
    `reading ${uri} failed: ${err instanceof Error ? err.message : String(err)}`,
  );
}

/**
 * Registers the `kem` and `kem-namespace-recent` resource templates.
 * Reads fail with JSON-RPC -32002 for an unknown (or unreadable) KEM, -32602 for a malformed id or
 * namespace, and -32603 for other DCSM failures (the message names the Connect code).
 * @param server - the MCP server. @param link - the DCSM clients. @param callerOf - forwarded credentials.
 */
export function registerDcsmResources(server: McpServer, link: DcsmLink, callerOf: CallerOf): void {
  server.registerResource(
    "kem",
    new ResourceTemplate("kem://{id}", { list: undefined }),
    {
      title: "Memory (KEM)",
      description: "One memory of DCSM long-term memory: its text, then its id, timestamps and metadata.",
      mimeType: "text/plain",
    },
    async (uri, vars, extra): Promise<ReadResourceResult> => {
      const id = decodeURIComponent(String(vars.id ?? ""));
      try {
        const res = await link.glm.retrieveKEMs(
          { query: kemQueryInit({ ids: [id] }), pageSize: 1 },
          callerOf(extra).call,
        );
        const kem = res.kems[0];
        if (!kem) throw new McpError(RESOURCE_NOT_FOUND, `no memory ${id} (or not readable with these credentials)`);
        return { contents: [{ uri: uri.href, mimeType: "text/plain", text: renderMemory(memoryView(kem)) }] };
      } catch (err) {
        throw resourceError(err, uri.href);
      }
    },
  );

  server.registerResource(
    "kem-namespace-recent",
    new ResourceTemplate("kem-namespace://{namespace}/recent", {
      list: async (extra) => {
        const namespaces = (extra.authInfo?.extra?.[READABLE_NAMESPACES] ?? []) as string[];
        return {
          resources: namespaces.map((ns) => ({
            uri: `kem-namespace://${ns}/recent`,
            name: `${ns}-recent`,
            title: `Recent memories of ${ns}`,
            mimeType: "text/plain",
          })),
        };
      },
    }),
    {
      title: "Recent memories of a namespace",
      description: `The ${RECENT_RESOURCE_SIZE} most recently updated memories of one namespace, newest first.`,
      mimeType: "text/plain",
    },
    async (uri, vars, extra): Promise<ReadResourceResult> => {
      const ns = decodeURIComponent(String(vars.namespace ?? ""));
      try {
        const res = await link.glm.retrieveKEMs(
          { query: kemQueryInit({ metadataFilters: { namespace: ns } }), pageSize: RECENT_RESOURCE_SIZE },
          callerOf(extra).call,
        );
        const text =
          res.kems.length === 0
            ? `no memories in namespace ${ns}\n`
            : res.kems.map((k) => renderMemory(memoryView(k))).join("\n");
        return { contents: [{ uri: uri.href, mimeType: "text/plain", text }] };
      } catch (err) {
        throw resourceError(err, uri.href);
      }
    },
  );
}
