/**
 * The DCSM tools an agent calls over MCP: long-term memory in GLM (written through KPS, which
 * chunks and embeds), shared working memory in SWM, and SWM's coordination primitives (locks with
 * fencing tokens, counters). Every tool has a zod input schema, an output schema and returns
 * `structuredContent` (MCP spec 2025-06-18, "Tools" → "Structured Content"); every DCSM failure
 * comes back as a tool error naming its Connect code (see tool-errors.ts).
 * @module
 */
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { DcsmLink } from "./dcsm-link.ts";
import { registerGlmTools } from "./glm-tools.ts";
import { registerSwmCoordinationTools } from "./swm-coordination-tools.ts";
import { registerSwmTools } from "./swm-tools.ts";
import type { CallerOf } from "./tool-schemas.ts";

export {
  type CallerOf,
  MAX_IDS,
  MAX_RESULTS,
  type MemoryView,
  memoryView,
  type ToolCaller,
} from "./tool-schemas.ts";

/**
 * Registers every DCSM tool on an MCP server: `remember`, `recall`, `get_memory`,
 * `update_memory`, `forget`, `list_recent`, `share`, `recent_shared`, `acquire_lock`,
 * `release_lock`, `increment_counter`, `get_counter`.
 * @param server - the MCP server (one per MCP session).
 * @param link - the DCSM clients.
 * @param callerOf - derives the forwarded credentials and the agent id of each call.
 */
export function registerDcsmTools(server: McpServer, link: DcsmLink, callerOf: CallerOf): void {
  registerGlmTools(server, link, callerOf);
  registerSwmTools(server, link, callerOf);
  registerSwmCoordinationTools(server, link, callerOf);
}
