/**
 * MCP over Streamable HTTP at /mcp on a real DCSM server (real keys file, real model, real
 * sockets), driven by the official SDK Client: tools, resources, scopes, sessions, errors.
 */
import { describe, expect, test } from "bun:test";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { SignJWT } from "jose";
import { newApiKey } from "../../runtime/auth/authenticator.ts";
import type { DcsmServer } from "../../runtime/server.ts";
import { apiKeysFile } from "../helpers/server.ts";
import { serverPerFile } from "../helpers/server-per-file.ts";
import { waitFor } from "../helpers/wait-for.ts";
import { call, errorText, keyA, keyB, ok, transportScenarios } from "./scenarios.ts";

const keyReadOnlyA = newApiKey("reader-a", ["team-a:read"]);
const JWT_SECRET = "an HS256 secret of at least thirty-two bytes for MCP";
let server: DcsmServer;

async function connect(token?: string): Promise<Client> {
  const client = new Client({ name: "dcsm-test", version: "1.0.0" });
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  await client.connect(
    new StreamableHTTPClientTransport(new URL("/mcp", server.httpUrl), { requestInit: { headers } }),
  );
  return client;
}

serverPerFile(
  (s) => (server = s),
  () => ({ apiKeysFile: apiKeysFile([keyA, keyB, keyReadOnlyA]), jwtSecret: JWT_SECRET }),
);

describe("MCP over Streamable HTTP", () => {
  transportScenarios(connect, "http");

  test("without, or with a wrong, credential /mcp answers 401 with WWW-Authenticate", async () => {
    for (const headers of [{}, { authorization: "Bearer dcsm_wrong" }] as Record<string, string>[]) {
      const res = await fetch(new URL("/mcp", server.httpUrl), {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json, text/event-stream", ...headers },
        body: JSON.stringify({
          jsonrpc: "2.0",
          id: 1,
          method: "initialize",
          params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "x", version: "1" } },
        }),
      });
      expect(res.status).toBe(401);
      expect(res.headers.get("www-authenticate")).toContain("Bearer");
    }
    await expect(connect()).rejects.toThrow();
  });

  test("a JWT works like an API key: its scopes confine what the session stores and reads", async () => {
    const jwt = await new SignJWT({ scopes: ["team-a:read,write"] })
      .setProtectedHeader({ alg: "HS256" })
      .setSubject("jwt-agent")
      .setIssuedAt()
      .setExpirationTime("5m")
      .sign(new TextEncoder().encode(JWT_SECRET));
    const j = await connect(jwt);
    const b = await connect(keyB.key);
    try {
      const { ids } = await ok(j, "remember", {
        text: "JWT test: the on-call rotation changes every Monday at 09:00.",
        metadata: { suite: "jwt" },
      });
      const found = await ok(j, "recall", { query: "when does on-call change?", k: 1, filters: { suite: "jwt" } });
      expect(found.results[0]).toMatchObject({ id: ids[0], metadata: { namespace: "team-a" } });
      expect(
        (await ok(b, "recall", { query: "when does on-call change?", k: 5, filters: { suite: "jwt" } })).results,
      ).toEqual([]);
      expect(errorText(await call(j, "acquire_lock", { resource: "team-a/x" }))).toContain("permission_denied"); // no lock right
    } finally {
      await Promise.all([j.close(), b.close()]);
    }
  });

  test("CORS lets browser MCP clients send the session headers and read Mcp-Session-Id", async () => {
    const pre = await fetch(new URL("/mcp", server.httpUrl), {
      method: "OPTIONS",
      headers: {
        origin: "https://agent.example",
        "access-control-request-method": "DELETE",
        "access-control-request-headers": "authorization,mcp-session-id,mcp-protocol-version",
      },
    });
    expect(pre.status).toBe(204);
    expect(pre.headers.get("access-control-allow-methods")).toContain("DELETE");
    expect(pre.headers.get("access-control-allow-headers")?.toLowerCase()).toContain("mcp-session-id");
    const init = await fetch(new URL("/mcp", server.httpUrl), {
      method: "POST",
      headers: {
        origin: "https://agent.example",
        authorization: `Bearer ${keyA.key}`,
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
      },
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: 1,
        method: "initialize",
        params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "browser", version: "1" } },
      }),
    });
    expect(init.status).toBe(200);
    expect(init.headers.get("access-control-expose-headers")?.toLowerCase()).toContain("mcp-session-id");
    await init.body?.cancel();
    const del = await fetch(new URL("/mcp", server.httpUrl), {
      method: "DELETE",
      headers: {
        authorization: `Bearer ${keyA.key}`,
        "mcp-session-id": init.headers.get("mcp-session-id")!,
        "mcp-protocol-version": "2025-06-18",
      },
    });
    expect(del.status).toBe(200);
  });

  test("a session is bound to its principal; an unknown session answers 404", async () => {
    const a = await connect(keyA.key);
    const sessionId = (a.transport as StreamableHTTPClientTransport).sessionId!;
    expect(sessionId).toBeTruthy();
    const listTools = (token: string, session: string) =>
      fetch(new URL("/mcp", server.httpUrl), {
        method: "POST",
        headers: {
          "content-type": "application/json",
          accept: "application/json, text/event-stream",
          authorization: `Bearer ${token}`,
          "mcp-session-id": session,
          "mcp-protocol-version": "2025-06-18",
        },
        body: JSON.stringify({ jsonrpc: "2.0", id: 2, method: "tools/list" }),
      });
    expect((await listTools(keyB.key, sessionId)).status).toBe(403);
    expect((await listTools(keyA.key, crypto.randomUUID())).status).toBe(404);
    expect((await listTools(keyA.key, sessionId)).status).toBe(200);
    await a.close();
  });

  test("get_memory, update_memory (re-embedded), list_recent paging, forget; DCSM errors are tool errors with the Connect code", async () => {
    const a = await connect(keyA.key);
    try {
      const ids: string[] = [];
      for (const text of [
        "Alpha note about sailing boats.",
        "Beta note about mountain hiking.",
        "Gamma note about baking bread.",
      ]) {
        ids.push(...(await ok(a, "remember", { text, metadata: { suite: "crud" } })).ids);
      }
      const got = await ok(a, "get_memory", { ids: [ids[0], "no-such-id"] });
      expect(got.memories.map((m: { text: string }) => m.text)).toEqual(["Alpha note about sailing boats."]);
      expect(got.missing).toEqual(["no-such-id"]);

      const updated = await ok(a, "update_memory", {
        id: ids[0],
        text: "Alpha note about the rules of chess openings.",
        metadata: { reviewed: true },
      });
      expect(updated.memory).toMatchObject({ id: ids[0], text: "Alpha note about the rules of chess openings." });
      expect(updated.memory.metadata).toMatchObject({ suite: "crud", reviewed: true });
      // Found by its new meaning: the embedding was replaced along with the text.
      const chess = await ok(a, "recall", { query: "chess strategy", k: 1, filters: { suite: "crud" } });
      expect(chess.results[0].id).toBe(ids[0]);

      const page1 = await ok(a, "list_recent", { filters: { suite: "crud" }, page_size: 2 });
      expect(page1.memories.length).toBe(2);
      expect(page1.memories[0].id).toBe(ids[0]); // updated last
      expect(page1.next_page_token).not.toBe("");
      const page2 = await ok(a, "list_recent", {
        filters: { suite: "crud" },
        page_size: 2,
        page_token: page1.next_page_token,
      });
      expect(page2.memories.length).toBe(1);
      expect(page2.next_page_token).toBe("");
      expect(new Set([...page1.memories, ...page2.memories].map((m: { id: string }) => m.id))).toEqual(new Set(ids));

      // remember with a stable id replaces that text in place instead of adding a copy.
      const v1 = await ok(a, "remember", {
        id: "runbook-7",
        text: "Runbook 7: restart the queue worker.",
        metadata: { suite: "crud-id" },
      });
      const v2 = await ok(a, "remember", {
        id: "runbook-7",
        text: "Runbook 7: drain, then restart the queue worker.",
        metadata: { suite: "crud-id" },
      });
      expect(v2.ids).toEqual(v1.ids);
      const listed = await ok(a, "list_recent", { filters: { suite: "crud-id" } });
      expect(listed.memories.map((m: { text: string }) => m.text)).toEqual([
        "Runbook 7: drain, then restart the queue worker.",
      ]);

      expect(await ok(a, "forget", { id: ids[1] })).toEqual({ id: ids[1], deleted: true });
      expect(errorText(await call(a, "forget", { id: ids[1] }))).toMatch(
        /^DCSM error not_found \(no such memory, lock or counter\): /,
      );
      expect(errorText(await call(a, "list_recent", { page_token: "not-a-token" }))).toContain("invalid_argument");
      expect(errorText(await call(a, "update_memory", { id: ids[0] }))).toContain("invalid_argument");
      // Input the schema rejects is a tool error too, not a crash of the session.
      expect(errorText(await call(a, "recall", { query: "x", k: 1000 }))).toContain("k");
      expect((await call(a, "recall", { query: "x", k: 1 })).isError).toBeFalsy();
    } finally {
      await a.close();
    }
  });

  test("a read-only key may recall but not remember", async () => {
    const r = await connect(keyReadOnlyA.key);
    try {
      expect((await ok(r, "recall", { query: "anything", k: 1 })).results).toBeArray();
      expect(errorText(await call(r, "remember", { text: "not allowed" }))).toContain("permission_denied");
    } finally {
      await r.close();
    }
  });

  test("share publishes to SWM for other agents; recent_shared lists it; counters count across sessions", async () => {
    const one = await connect(keyA.key);
    const two = await connect(keyA.key);
    const other = await connect(keyB.key);
    try {
      const shared = await ok(one, "share", {
        text: "Deploy of build 812 finished green.",
        metadata: { kind: "status" },
      });
      expect(shared.published).toBe(true);
      const seen = await ok(two, "recent_shared", { filters: { kind: "status" } });
      expect(seen.notes.map((n: { id: string }) => n.id)).toContain(shared.id);
      expect((await ok(other, "recent_shared", { filters: { kind: "status" } })).notes).toEqual([]);
      // Kept in long-term memory with an embedding (SWM write-behind): recall finds it by meaning.
      const hit = await waitFor(
        async () => {
          const first = (
            await ok(two, "recall", { query: "did the deployment succeed?", k: 1, filters: { kind: "status" } })
          ).results[0] as { id: string } | undefined;
          return first?.id === shared.id ? first : undefined;
        },
        { intervalMs: 100, what: "the shared note in recall" },
      );
      expect(hit?.id).toBe(shared.id);

      expect((await ok(one, "increment_counter", { counter: "team-a/builds" })).value).toBe("1");
      expect((await ok(two, "increment_counter", { counter: "team-a/builds", by: 41 })).value).toBe("42");
      expect(await ok(one, "get_counter", { counter: "team-a/builds" })).toEqual({
        counter: "team-a/builds",
        value: "42",
      });
      expect(errorText(await call(other, "get_counter", { counter: "team-a/builds" }))).toContain("permission_denied");
    } finally {
      await Promise.all([one.close(), two.close(), other.close()]);
    }
  });

  test("resources: kem://{id} and kem-namespace://{namespace}/recent, within scope", async () => {
    const a = await connect(keyA.key);
    const b = await connect(keyB.key);
    try {
      const templates = (await a.listResourceTemplates()).resourceTemplates.map((t) => t.uriTemplate).sort();
      expect(templates).toEqual(["kem-namespace://{namespace}/recent", "kem://{id}"]);
      expect((await a.listResources()).resources.map((r) => r.uri)).toEqual(["kem-namespace://team-a/recent"]);
      expect((await b.listResources()).resources.map((r) => r.uri)).toEqual(["kem-namespace://team-b/recent"]);
      const { ids } = await ok(a, "remember", {
        text: "Resource test: the staging database is read-only on Sundays.",
        metadata: { suite: "resource" },
      });
      const one = await a.readResource({ uri: `kem://${ids[0]}` });
      const text = (one.contents[0] as { text: string }).text;
      expect(text).toStartWith("Resource test: the staging database is read-only on Sundays.");
      expect(text).toContain(`id: ${ids[0]}`);
      expect(text).toContain('"suite":"resource"');
      const recent = await a.readResource({ uri: "kem-namespace://team-a/recent" });
      expect((recent.contents[0] as { text: string }).text).toContain("staging database");
      await expect(b.readResource({ uri: `kem://${ids[0]}` })).rejects.toThrow(/-32002|not readable/);
      await expect(b.readResource({ uri: "kem-namespace://team-a/recent" })).rejects.toThrow(/permission_denied/);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});
