/**
 * Limits of the /mcp endpoint, each at a small explicit value, with the real SDK transports over
 * a real socket: open sessions (503 beyond, a DELETE frees a slot), idle sessions closed (404),
 * the body size (413), and cross-origin browser requests refused when authentication is off.
 * The endpoint is mounted on its own Hono app with an in-process GLM (router transport over the
 * real GLM service on a temporary SQLite file), as runtime/server.ts mounts it with every service.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { Hono } from "hono";
import { ANONYMOUS } from "../../runtime/auth/authenticator.ts";
import { createLogger } from "../../runtime/logger.ts";
import { createDcsmLink } from "../../runtime/mcp/dcsm-link.ts";
import { type BunServerEnv, type McpEndpoint, mountMcpEndpoint } from "../../runtime/mcp/http-endpoint.ts";
import { assembleGlm } from "../../services/glm/assembly.ts";
import { createSqliteKemStore } from "../../services/glm/store/sqlite-store.ts";
import { createExactVectorIndex } from "../../services/glm/vector/exact-index.ts";
import { removeTempDirs, tempDir } from "../helpers/temp-dir.ts";
import { waitFor } from "../helpers/wait-for.ts";

let http: ReturnType<typeof Bun.serve>;
let endpoint: McpEndpoint;
let store: ReturnType<typeof createSqliteKemStore>;
const url = () => new URL("/mcp", `http://127.0.0.1:${http.port}`);

beforeAll(async () => {
  store = createSqliteKemStore({ path: join(tempDir("dcsm-mcp-limits-"), "glm.sqlite") });
  const glm = await assembleGlm({
    store,
    index: createExactVectorIndex({ dimension: 384, initialCapacity: 16 }),
    log: createLogger("silent"),
  }).open();
  // A fault named as such: /v1/embeddings answering 503 as while the model warms up (a real
  // warm-up is too short to test against); GLM itself is the real service.
  const embeddingsWarmingUp = async () => new Response("model warming up", { status: 503 });
  const link = createDcsmLink(glm.transport, embeddingsWarmingUp);
  const app = new Hono<{ Bindings: BunServerEnv }>();
  endpoint = mountMcpEndpoint(app, {
    link,
    authenticate: async () => ANONYMOUS,
    authEnabled: false,
    maxSessions: 2,
    idleMs: 300,
    maxBodyBytes: 4096,
  });
  http = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: app.fetch });
});
afterAll(async () => {
  await endpoint?.close();
  await http?.stop(true);
  store?.close();
  removeTempDirs();
});

async function connect(): Promise<Client> {
  const client = new Client({ name: "limits-test", version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(url()));
  return client;
}

function initialize(headers: Record<string, string> = {}, body?: string): Promise<Response> {
  return fetch(url(), {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json, text/event-stream", ...headers },
    body:
      body ??
      JSON.stringify({
        jsonrpc: "2.0",
        id: 1,
        method: "initialize",
        params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "raw", version: "1" } },
      }),
  });
}

describe("/mcp limits", () => {
  test("at most maxSessions open sessions: 503 beyond; terminating one frees a slot", async () => {
    const a = await connect();
    const b = await connect();
    expect(endpoint.sessionCount()).toBe(2);
    const refused = await initialize();
    expect(refused.status).toBe(503);
    expect(refused.headers.get("retry-after")).toBe("5");
    await (a.transport as StreamableHTTPClientTransport).terminateSession();
    expect(endpoint.sessionCount()).toBe(1);
    const c = await connect();
    expect((await c.listTools()).tools.length).toBe(12);
    await (b.transport as StreamableHTTPClientTransport).terminateSession();
    await (c.transport as StreamableHTTPClientTransport).terminateSession();
    await Promise.all([a.close(), b.close(), c.close()]);
    expect(endpoint.sessionCount()).toBe(0);
  });

  test("a session idle longer than idleMs is closed and answers 404", async () => {
    const a = await connect();
    const sessionId = (a.transport as StreamableHTTPClientTransport).sessionId!;
    await a.listTools();
    await waitFor(() => endpoint.sessionCount() === 0, { timeoutMs: 700, what: "the idle session closed" });
    expect(endpoint.sessionCount()).toBe(0);
    const res = await fetch(url(), {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        "mcp-session-id": sessionId,
        "mcp-protocol-version": "2025-06-18",
      },
      body: JSON.stringify({ jsonrpc: "2.0", id: 2, method: "tools/list" }),
    });
    expect(res.status).toBe(404);
    await a.close();
  });

  test("a body over maxBodyBytes answers 413; a request that is not initialize opens no session", async () => {
    const big = JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "x".repeat(5000), version: "1" } },
    });
    expect((await initialize({}, big)).status).toBe(413);
    expect((await initialize({}, JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }))).status).toBe(400);
    expect(endpoint.sessionCount()).toBe(0);
  });

  test("without authentication, cross-origin browser requests are refused; same-origin ones served", async () => {
    expect((await initialize({ origin: "http://evil.example" })).status).toBe(403);
    expect((await initialize({ origin: "null" })).status).toBe(403);
    const same = await initialize({ origin: `http://127.0.0.1:${http.port}` });
    expect(same.status).toBe(200);
    const id = same.headers.get("mcp-session-id")!;
    await fetch(url(), { method: "DELETE", headers: { "mcp-session-id": id, "mcp-protocol-version": "2025-06-18" } });
    expect(endpoint.sessionCount()).toBe(0);
  });

  test("tools reach DCSM through the link: a DCSM error is a tool error", async () => {
    const a = await connect();
    const res = (await a.callTool({ name: "forget", arguments: { id: "missing" } })) as {
      isError?: boolean;
      content: { text: string }[];
    };
    expect(res.isError).toBe(true);
    expect(res.content[0]!.text).toStartWith("DCSM error not_found");
    const noModel = (await a.callTool({ name: "update_memory", arguments: { id: "missing", text: "x" } })) as {
      isError?: boolean;
      content: { text: string }[];
    };
    expect(noModel.content[0]!.text).toStartWith("DCSM error unavailable");
    await (a.transport as StreamableHTTPClientTransport).terminateSession();
    await a.close();
  });
});
