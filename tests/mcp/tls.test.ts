/**
 * MCP on a TLS server: /mcp on the one HTTPS port (same certificate, same keys as every RPC), and
 * `dcsm mcp` over stdio to the https:// URL trusting the private CA (DCSM_TLS_CA).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { REPO_ROOT } from "../../runtime/config.ts";
import type { DcsmServer } from "../../runtime/server.ts";
import { apiKeysFile, startTestServer } from "../helpers/server.ts";
import { removeTempDirs, tempDir } from "../helpers/temp-dir.ts";
import { makeSelfSignedCert, type TestCert } from "../helpers/tls-cert.ts";
import { keyA, keyB, ok } from "./scenarios.ts";

let server: DcsmServer;
let cert: TestCert;

beforeAll(async () => {
  const dir = tempDir("dcsm-mcp-tls-");
  cert = makeSelfSignedCert(dir);
  const keysFile = apiKeysFile([keyA, keyB]);
  server = await startTestServer({ tlsCert: cert.certPath, tlsKey: cert.keyPath, apiKeysFile: keysFile });
});
afterAll(async () => {
  await server?.close();
  removeTempDirs();
});

describe("MCP with TLS", () => {
  test("Streamable HTTP at https://…/mcp with a bearer key, and stdio to the https URL see the same memories", async () => {
    expect(server.httpUrl).toStartWith("https://");
    const trustingFetch = ((url: string | URL | Request, init?: RequestInit) =>
      fetch(url, { ...init, tls: { ca: cert.cert } } as RequestInit)) as typeof fetch;
    const http = new Client({ name: "tls-http", version: "1.0.0" });
    await http.connect(
      new StreamableHTTPClientTransport(new URL("/mcp", server.httpUrl), {
        fetch: trustingFetch,
        requestInit: { headers: { authorization: `Bearer ${keyA.key}` } },
      }),
    );
    const stdio = new Client({ name: "tls-stdio", version: "1.0.0" });
    const env = Object.fromEntries(
      Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined && !e[0].startsWith("DCSM_")),
    );
    await stdio.connect(
      new StdioClientTransport({
        command: process.execPath,
        args: [join(REPO_ROOT, "runtime/cli/main.ts"), "mcp"],
        env: {
          ...env,
          DCSM_URL: server.httpUrl,
          DCSM_TOKEN: keyA.key,
          DCSM_TLS_CA: cert.certPath,
          DCSM_LOG_LEVEL: "warn",
        },
        stderr: "pipe",
      }),
    );
    try {
      const { ids } = await ok(http, "remember", { text: "Over TLS: the backup window is 02:00 to 03:00 UTC." });
      const found = await ok(stdio, "recall", { query: "when do backups run?", k: 1 });
      expect(found.results[0].id).toBe(ids[0]);
      // update_memory goes through /v1/embeddings over the same TLS connection settings.
      const updated = await ok(stdio, "update_memory", {
        id: ids[0],
        text: "Over TLS: the backup window moved to 04:00 UTC.",
      });
      expect(updated.memory.text).toContain("04:00");
    } finally {
      await Promise.all([http.close(), stdio.close()]);
    }
  });
});
