/**
 * MCP over stdio: `bun runtime/cli/main.ts mcp` as a child process driven by the official SDK
 * Client — against a running DCSM with a real keys file (DCSM_URL + DCSM_TOKEN), and embedded on
 * a data folder when no URL is given.
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { REPO_ROOT } from "../../runtime/config.ts";
import type { DcsmServer } from "../../runtime/server.ts";
import { apiKeysFile } from "../helpers/server.ts";
import { serverPerFile } from "../helpers/server-per-file.ts";
import { tempDir } from "../helpers/temp-dir.ts";
import { call, errorText, keyA, keyB, ok, transportScenarios } from "./scenarios.ts";

const MAIN = join(REPO_ROOT, "runtime/cli/main.ts");
let server: DcsmServer;

/** The environment of this process without DCSM_* (so the child sees only what a test sets). */
function baseEnv(): Record<string, string> {
  return Object.fromEntries(
    Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined && !e[0].startsWith("DCSM_")),
  );
}

async function spawnMcp(env: Record<string, string>): Promise<Client> {
  const client = new Client({ name: "dcsm-stdio-test", version: "1.0.0" });
  await client.connect(
    new StdioClientTransport({
      command: process.execPath,
      args: [MAIN, "mcp"],
      env: { ...baseEnv(), DCSM_LOG_LEVEL: "warn", ...env },
      stderr: "pipe",
    }),
  );
  return client;
}

const connect = (token: string) => spawnMcp({ DCSM_URL: server.httpUrl, DCSM_TOKEN: token });

serverPerFile(
  (s) => (server = s),
  () => ({ apiKeysFile: apiKeysFile([keyA, keyB]) }),
);

describe("MCP over stdio (dcsm mcp) to a running DCSM", () => {
  transportScenarios(connect, "stdio");

  test("a wrong token gives tool errors naming unauthenticated, and the process keeps serving", async () => {
    const client = await connect("dcsm_wrong");
    try {
      expect(errorText(await call(client, "recall", { query: "anything" }))).toContain("unauthenticated");
      expect(errorText(await call(client, "update_memory", { id: "x", text: "new text" }))).toContain(
        "unauthenticated",
      );
      expect((await client.listTools()).tools.length).toBe(12);
    } finally {
      await client.close();
    }
  });
});

describe("MCP over stdio (dcsm mcp) embedded", () => {
  test("without DCSM_URL it runs DCSM on the data folder; memories outlive the process", async () => {
    const dataDir = tempDir("dcsm-mcp-embedded-");
    const env = { DCSM_DATA_DIR: dataDir, DCSM_MODEL_OFFLINE: "1", DCSM_WARMUP: "quick" };
    const first = await spawnMcp(env);
    let id: string;
    try {
      id = (await ok(first, "remember", { text: "The embedded test keeps its spare keys under the blue flowerpot." }))
        .ids[0];
      expect((await ok(first, "recall", { query: "where is the spare key hidden?", k: 1 })).results[0].id).toBe(id);
    } finally {
      await first.close();
    }
    const second = await spawnMcp(env);
    try {
      const again = await ok(second, "recall", { query: "where is the spare key hidden?", k: 1 });
      expect(again.results[0].id).toBe(id);
      expect(again.results[0].text).toContain("blue flowerpot");
    } finally {
      await second.close();
    }
  });
});
