/**
 * `dcsm mcp`: the DCSM MCP server over stdio (MCP spec 2025-06-18, "Transports" → "stdio"), for
 * agent runtimes that start their MCP servers as child processes. It talks to a running DCSM at
 * a URL with a token (the same tools and scopes as `/mcp`), or, without a URL, starts DCSM
 * embedded in this process on a data folder (loopback listeners on free ports, stopped on exit).
 * stdout carries only MCP messages; logs go to stderr.
 * @module
 */
import { hostname } from "node:os";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { createNodeTransport } from "../../sdk/server.ts";
import type { DcsmConfig } from "../config.ts";
import { type DcsmServer, startDcsmServer } from "../server.ts";
import { createDcsmLink, networkFetch } from "./dcsm-link.ts";
import { createDcsmMcpServer, fixedCaller } from "./mcp-server.ts";

/** Options of {@link runMcpStdio}. */
export interface McpStdioOptions {
  /** URL of a running DCSM's HTTP listener (e.g. "https://dcsm.internal:8443"); absent: run embedded. */
  url?: string;
  /** API key or JWT for `url` (sent as `authorization: Bearer`). */
  token?: string;
  /** PEM CA certificate(s) to trust for an `https://` URL. */
  ca?: string | Buffer;
  /** Configuration of the embedded DCSM (data folder, model, ...), used when `url` is absent. */
  embedded?: DcsmConfig;
  /** Agent id for SWM publishing and lock holding. @default `mcp-<host>-<pid>` */
  agentId?: string;
}

/**
 * Serves MCP on stdin/stdout until stdin closes or SIGINT/SIGTERM, then stops the embedded DCSM
 * (if any).
 * @throws Error when neither `url` nor `embedded` is given, or when the embedded DCSM cannot start
 *   (model missing, data folder unwritable).
 */
export async function runMcpStdio(options: McpStdioOptions): Promise<void> {
  // Anything a dependency prints with console.log would corrupt the JSON-RPC stream on stdout.
  console.log = console.error;
  console.info = console.error;
  console.debug = console.error;

  let embedded: DcsmServer | undefined;
  let url = options.url;
  let token = options.token;
  if (!url) {
    if (!options.embedded) throw new Error("dcsm mcp needs DCSM_URL (a running DCSM) or a data folder to run embedded");
    embedded = await startDcsmServer({ ...options.embedded, host: "127.0.0.1", httpPort: 0, grpcPort: 0 });
    url = embedded.httpUrl;
    token ??= options.embedded.apiKeys[0];
  }
  const transport = createNodeTransport({ baseUrl: url, protocol: "connect", ca: options.ca, token });
  const link = createDcsmLink(transport, networkFetch(url, token, options.ca));
  const server = createDcsmMcpServer(link, fixedCaller(options.agentId ?? `mcp-${hostname()}-${process.pid}`));

  const stdio = new StdioServerTransport();
  const closed = new Promise<void>((resolve) => {
    stdio.onclose = resolve;
    process.stdin.once("end", resolve);
    process.stdin.once("close", resolve);
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  await server.connect(stdio);
  await closed;
  await server.close().catch(() => {});
  await embedded?.close();
}
