/**
 * MCP scenarios run over both transports (Streamable HTTP and stdio) with the SDK's own Client
 * against a real DCSM server with two tenants: team-a and team-b, each with its own API key.
 */
import { expect, test } from "bun:test";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { newApiKey } from "../../runtime/auth/authenticator.ts";

const ALL = "read,write,publish,subscribe,lock";
/** Every right on team-a. */
export const keyA = newApiKey("agent-a", [`team-a:${ALL}`]);
/** Every right on team-b. */
export const keyB = newApiKey("agent-b", [`team-b:${ALL}`]);

/** Opens an MCP client session with the given API key. */
export type Connect = (token: string) => Promise<Client>;

/** Every tool the server must offer. */
export const TOOL_NAMES = [
  "acquire_lock",
  "forget",
  "get_counter",
  "get_memory",
  "increment_counter",
  "list_recent",
  "recall",
  "recent_shared",
  "release_lock",
  "remember",
  "share",
  "update_memory",
];

/** Calls a tool and returns its result. */
export async function call(client: Client, name: string, args: Record<string, unknown>): Promise<CallToolResult> {
  return (await client.callTool({ name, arguments: args })) as CallToolResult;
}

/** Calls a tool that must succeed and returns its structured content. */
// biome-ignore lint/suspicious/noExplicitAny: tool results are arbitrary JSON that tests read field by field; a wrong field fails the assertion
export async function ok<T = Record<string, any>>(
  client: Client,
  name: string,
  args: Record<string, unknown>,
): Promise<T> {
  const res = await call(client, name, args);
  if (res.isError) throw new Error(`${name} failed: ${JSON.stringify(res.content)}`);
  expect(res.structuredContent).toBeDefined();
  // The text content carries the same JSON (for clients without structured output).
  expect(JSON.parse((res.content[0] as { text: string }).text)).toEqual(res.structuredContent as object);
  return res.structuredContent as T;
}

/** The text of a tool error result. */
export function errorText(res: CallToolResult): string {
  expect(res.isError).toBe(true);
  return (res.content[0] as { text: string }).text;
}

/** tools/list offers every tool with input and output schemas and a description. */
export async function listsTools(connect: Connect): Promise<void> {
  const client = await connect(keyA.key);
  try {
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(TOOL_NAMES);
    for (const t of tools) {
      expect(t.description!.length).toBeGreaterThan(40);
      expect(t.inputSchema.type).toBe("object");
      expect(t.outputSchema?.type).toBe("object");
    }
    const recall = tools.find((t) => t.name === "recall")!;
    expect(Object.keys(recall.inputSchema.properties ?? {})).toEqual(
      expect.arrayContaining(["query", "k", "namespace", "filters", "created_after", "updated_before"]),
    );
    expect(recall.inputSchema.required).toEqual(["query"]);
  } finally {
    await client.close();
  }
}

/** remember, then recall finds it by meaning (not by its words), with score and metadata. */
export async function remembersAndRecalls(connect: Connect, tag: string): Promise<void> {
  const client = await connect(keyA.key);
  try {
    const stored = await ok(client, "remember", {
      text: `The ${tag} office coffee machine is descaled every Friday by Dana.`,
      metadata: { topic: "office", tag },
    });
    expect(stored.ids.length).toBe(1);
    await ok(client, "remember", {
      text: `Quarterly revenue of the ${tag} division grew eleven percent.`,
      metadata: { topic: "finance", tag },
    });
    const found = await ok(client, "recall", { query: "who cleans the espresso maker?", k: 2, filters: { tag } });
    expect(found.results.length).toBe(2);
    expect(found.results[0].id).toBe(stored.ids[0]);
    expect(found.results[0].text).toContain("descaled every Friday");
    expect(found.results[0].metadata).toMatchObject({ topic: "office", tag, namespace: "team-a" });
    expect(found.results[0].score).toBeGreaterThan(found.results[1].score);
    // A name is found by its exact word in lexical mode, and only the memory that has it.
    const exact = await ok(client, "recall", { query: "Dana", mode: "lexical", k: 5, filters: { tag } });
    expect(exact.results.map((r: { id: string }) => r.id)).toEqual([stored.ids[0]]);
  } finally {
    await client.close();
  }
}

/** A key for team-b neither finds team-a's memories nor may name team-a's namespace. */
export async function enforcesScopes(connect: Connect, tag: string): Promise<void> {
  const a = await connect(keyA.key);
  const b = await connect(keyB.key);
  try {
    const secret = await ok(a, "remember", {
      text: `The ${tag} launch code of team A is pineapple-42.`,
      metadata: { tag },
    });
    const own = await ok(a, "recall", { query: "launch code", k: 3, filters: { tag } });
    expect(own.results.map((r: { id: string }) => r.id)).toContain(secret.ids[0]);

    const theirs = await ok(b, "recall", { query: "launch code", k: 10, filters: { tag } });
    expect(theirs.results).toEqual([]);
    const denied = await call(b, "recall", { query: "launch code", namespace: "team-a" });
    expect(errorText(denied)).toContain("permission_denied");
    const missing = await ok(b, "get_memory", { ids: [secret.ids[0]] });
    expect(missing).toEqual({ memories: [], missing: [secret.ids[0]] });
    expect(errorText(await call(b, "acquire_lock", { resource: "team-a/deploy" }))).toContain("permission_denied");
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
}

/** A lock held by one MCP session blocks another until released; fencing tokens grow. */
export async function locksAcrossSessions(connect: Connect, tag: string): Promise<void> {
  const one = await connect(keyA.key);
  const two = await connect(keyA.key);
  const resource = `team-a/${tag}-deploy`;
  try {
    const first = await ok(one, "acquire_lock", { resource, lease_ms: 30_000 });
    expect(first).toMatchObject({ acquired: true, status: "acquired", resource });
    expect(BigInt(first.fencing_token)).toBeGreaterThan(0n);

    const blocked = await ok(two, "acquire_lock", { resource });
    expect(blocked).toMatchObject({ acquired: false, status: "not_available" });
    expect(blocked.holder).not.toBe(first.holder);
    expect(blocked.message).toContain(first.holder);
    const waited = await ok(two, "acquire_lock", { resource, wait_ms: 150 });
    expect(waited.status).toBe("timeout");

    expect((await ok(one, "acquire_lock", { resource })).status).toBe("already_held_by_you");
    expect((await ok(two, "release_lock", { resource, lock_id: first.lock_id })).released).toBe(false);
    expect(await ok(one, "release_lock", { resource, lock_id: first.lock_id })).toMatchObject({
      released: true,
      status: "released",
    });

    const second = await ok(two, "acquire_lock", { resource });
    expect(second.acquired).toBe(true);
    expect(BigInt(second.fencing_token)).toBeGreaterThan(BigInt(first.fencing_token));
    await ok(two, "release_lock", { resource, lock_id: second.lock_id });
  } finally {
    await Promise.all([one.close(), two.close()]);
  }
}

/**
 * Registers, in the enclosing `describe`, the scenarios every transport must pass: tools/list,
 * remember then recall, tenant scopes, and locks across sessions.
 * @param tag - the transport's name, kept in the ids and texts the scenarios write.
 */
export function transportScenarios(connect: Connect, tag: string): void {
  test("tools/list offers every tool with schemas", () => listsTools(connect));
  test("remember, then recall finds it", () => remembersAndRecalls(connect, tag));
  test("a key for team-b cannot recall team-a's memories", () => enforcesScopes(connect, tag));
  test("a lock held by one MCP session blocks another", () => locksAcrossSessions(connect, tag));
}
