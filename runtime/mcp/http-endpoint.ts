/**
 * The MCP Streamable HTTP endpoint (MCP spec 2025-06-18, "Transports" → "Streamable HTTP") at
 * `/mcp` on the DCSM HTTP host, so it shares the port, TLS and credentials of every RPC.
 *
 * Sessions: each `initialize` opens an MCP session (the SDK's web-standard transport with a
 * random session id) owned by the principal that opened it; later requests must carry its
 * `Mcp-Session-Id` and the same principal's credentials. A session is also the agent identity
 * of SWM calls (publisher, lock holder), so two sessions never share a lock by accident.
 *
 * Authentication: every request is authenticated like an RPC (bearer API key or JWT, or
 * `x-api-key`); failures answer HTTP 401 with `WWW-Authenticate: Bearer`. The credential is then
 * forwarded on every in-process RPC the tools make, so the RPC guards apply the caller's
 * namespace scopes unchanged.
 * @module
 */

import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import type { Hono } from "hono";
import { namespacesWith, type Principal } from "../../services/common/access.ts";
import { credentialOf } from "../auth/authenticator.ts";
import type { DcsmLink } from "./dcsm-link.ts";
import { createDcsmMcpServer } from "./mcp-server.ts";
import { READABLE_NAMESPACES } from "./resources.ts";
import type { CallerOf } from "./tools.ts";

/** Path of the endpoint. */
export const MCP_PATH = "/mcp";

/** Options of {@link mountMcpEndpoint}. */
export interface McpEndpointOptions {
  /** DCSM clients (normally an in-process router transport with the server's interceptors). */
  link: DcsmLink;
  /** Authenticates a request as the RPC interceptor does. @throws on missing or bad credentials. */
  authenticate(headers: Headers): Promise<Principal>;
  /** False when the server runs without credentials (loopback only): then cross-origin browser requests are refused. */
  authEnabled: boolean;
  /** Most open MCP sessions; an `initialize` beyond answers 503. @default 1000 */
  maxSessions?: number;
  /** A session unused this long (ms) is closed; its next request answers 404 and the client re-initializes. @default 1800000 (30 min) */
  idleMs?: number;
  /** Largest JSON-RPC POST body in bytes (HTTP 413 beyond). @default 4194304 (4 MiB) */
  maxBodyBytes?: number;
}

/** The mounted endpoint. */
export interface McpEndpoint {
  /** Open MCP sessions. */
  sessionCount(): number;
  /** Closes every session and stops the idle sweep. */
  close(): Promise<void>;
}

interface Session {
  transport: WebStandardStreamableHTTPServerTransport;
  server: McpServer;
  principalId: string;
  lastSeen: number;
}

/** Bun's server object as Hono exposes it in `c.env` under `Bun.serve` (`timeout` lifts the idle timeout of one request). */
export interface BunServerEnv {
  timeout?: (req: Request, seconds: number) => void;
}

/** Host of an `Origin` header value; undefined for "null" (sandboxed or file: pages) and garbage. */
function hostOf(origin: string): string | undefined {
  try {
    return new URL(origin).host || undefined;
  } catch {
    return undefined;
  }
}

/** A JSON-RPC error response without id (transport-level failures). */
function jsonRpcError(status: number, code: number, message: string, headers: Record<string, string> = {}): Response {
  return Response.json({ jsonrpc: "2.0", error: { code, message }, id: null }, { status, headers });
}

/**
 * Mounts `/mcp` (POST, GET, DELETE) on the DCSM Hono app.
 * Answers: 401 without valid credentials; 403 for a session of another principal, or a
 * cross-origin browser request when authentication is off; 404 for an unknown or expired
 * session; 503 when `maxSessions` sessions are open; otherwise whatever the SDK transport answers.
 * @param app - the Hono app of the HTTP listener.
 * @param options - link, authentication and limits.
 */
export function mountMcpEndpoint(app: Hono<{ Bindings: BunServerEnv }>, options: McpEndpointOptions): McpEndpoint {
  const maxSessions = options.maxSessions ?? 1000;
  const idleMs = options.idleMs ?? 30 * 60_000;
  const sessions = new Map<string, Session>();
  let opening = 0;

  const closeSession = async (id: string) => {
    const s = sessions.get(id);
    if (!s) return;
    sessions.delete(id);
    await s.server.close().catch(() => {});
  };
  const sweep = setInterval(
    () => {
      const cutoff = Date.now() - idleMs;
      for (const [id, s] of sessions) if (s.lastSeen < cutoff) void closeSession(id);
    },
    Math.min(60_000, Math.max(100, idleMs / 2)),
  );
  sweep.unref?.();

  app.all(MCP_PATH, async (c) => {
    const req = c.req.raw;
    // Without credentials a browser page could drive a loopback server (DNS rebinding; the MCP
    // spec requires checking Origin): only same-origin browser requests are served then.
    const origin = req.headers.get("origin");
    if (!options.authEnabled && origin && hostOf(origin) !== new URL(req.url).host) {
      return jsonRpcError(403, -32000, `cross-origin MCP request from ${origin} refused`);
    }
    let principal: Principal;
    try {
      principal = await options.authenticate(req.headers);
    } catch (err) {
      return jsonRpcError(401, -32001, (err as Error).message, { "www-authenticate": 'Bearer realm="dcsm"' });
    }
    const token = credentialOf(req.headers) ?? "";
    const readable = namespacesWith(principal, "read");
    const authInfo = {
      token,
      clientId: principal.id,
      scopes: [],
      extra: { [READABLE_NAMESPACES]: readable === "all" ? [] : readable },
    };
    // Tool calls may wait (locks) and GET streams stay open: lift Bun's idle timeout for /mcp.
    c.env?.timeout?.(req, 0);

    const sessionId = req.headers.get("mcp-session-id");
    if (sessionId) {
      const s = sessions.get(sessionId);
      if (!s) return jsonRpcError(404, -32001, "session not found (closed or expired): initialize a new session");
      if (s.principalId !== principal.id)
        return jsonRpcError(403, -32000, `session belongs to another principal than ${principal.id}`);
      s.lastSeen = Date.now();
      return s.transport.handleRequest(req, { authInfo });
    }

    if (req.method !== "POST")
      return jsonRpcError(400, -32000, "no Mcp-Session-Id: send an initialize request (POST) first");
    if (sessions.size + opening >= maxSessions)
      return jsonRpcError(503, -32000, `too many open MCP sessions (limit ${maxSessions}); retry later`, {
        "retry-after": "5",
      });
    opening++;
    let created: Session | undefined;
    try {
      const transport = new WebStandardStreamableHTTPServerTransport({
        sessionIdGenerator: () => crypto.randomUUID(),
        maxRequestBodySize: options.maxBodyBytes,
        onsessioninitialized: (id) => {
          if (created) sessions.set(id, created);
        },
        onsessionclosed: (id) => void closeSession(id),
      });
      const callerOf: CallerOf = (extra) => ({
        call: {
          headers: extra.authInfo?.token ? { authorization: `Bearer ${extra.authInfo.token}` } : undefined,
          signal: extra.signal,
        },
        agentId: `${principal.id}:mcp-${extra.sessionId ?? transport.sessionId ?? "session"}`,
      });
      const server = createDcsmMcpServer(options.link, callerOf);
      created = { transport, server, principalId: principal.id, lastSeen: Date.now() };
      await server.connect(transport);
      const res = await transport.handleRequest(req, { authInfo });
      // Not an initialize request (or a rejected one): no session was opened, drop the server.
      if (!transport.sessionId || !sessions.has(transport.sessionId)) await server.close().catch(() => {});
      return res;
    } finally {
      opening--;
    }
  });

  return {
    sessionCount: () => sessions.size,
    async close() {
      clearInterval(sweep);
      await Promise.all([...sessions.keys()].map(closeSession));
    },
  };
}
