/**
 * One DCSM MCP server: the tools (tools.ts) and resources (resources.ts) on an `McpServer` of the
 * official TypeScript SDK. The HTTP endpoint makes one per MCP session, the stdio entry one per
 * process; both hand it the same {@link DcsmLink}.
 * @module
 */
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import pkg from "../../package.json" with { type: "json" };
import type { DcsmLink } from "./dcsm-link.ts";
import { registerDcsmResources } from "./resources.ts";
import { type CallerOf, registerDcsmTools } from "./tools.ts";

/** What the server tells an agent about itself at initialization (MCP `instructions`). */
export const DCSM_MCP_INSTRUCTIONS =
  "DCSM is memory shared by many agents. Use `remember` to store knowledge for later and `recall` to search it by meaning " +
  "(then get_memory / update_memory / forget by id, list_recent to browse). Use `share` and `recent_shared` for notes every agent " +
  "should see now, and acquire_lock / release_lock and increment_counter / get_counter to coordinate with other agents. " +
  "Your credentials decide which namespaces you may read and write; lock and counter names start with '<namespace>/'.";

/**
 * Creates an MCP server exposing DCSM.
 * @param link - the DCSM clients.
 * @param callerOf - credentials forwarded and agent id used for each request.
 * @returns a server not yet connected to a transport.
 */
export function createDcsmMcpServer(link: DcsmLink, callerOf: CallerOf): McpServer {
  const server = new McpServer(
    { name: "dcsm", title: "DCSM shared memory", version: pkg.version },
    { instructions: DCSM_MCP_INSTRUCTIONS, capabilities: { tools: {}, resources: {} } },
  );
  registerDcsmTools(server, link, callerOf);
  registerDcsmResources(server, link, callerOf);
  return server;
}

/**
 * The caller of a request over a transport whose credentials ride on the Connect transport itself
 * (stdio: `DCSM_TOKEN`): no extra headers, the request's cancellation signal, a fixed agent id.
 * @param agentId - agent id used as SWM publisher and lock holder.
 */
export function fixedCaller(agentId: string): CallerOf {
  return (extra) => ({ call: { signal: extra.signal }, agentId });
}
