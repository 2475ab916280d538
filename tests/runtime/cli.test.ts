/**
 * The `dcsm` CLI as a user runs it: `serve` in a child process, `ingest` a folder and `search` it
 * from other processes, then SIGTERM for a graceful shutdown.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CLI_MAIN, runCli } from "../helpers/cli-process.ts";
import { removeTempDirs, tempDir } from "../helpers/temp-dir.ts";

afterAll(removeTempDirs);

describe("dcsm CLI", () => {
  test("serve, ingest, search, graceful SIGTERM", async () => {
    const dataDir = tempDir();
    const docs = tempDir();
    mkdirSync(join(docs, "notes"));
    writeFileSync(join(docs, "notes/garden.md"), "# Garden\n\nTomatoes need full sun and regular watering.\n");
    writeFileSync(join(docs, "notes/car.md"), "# Car\n\nChange the engine oil every ten thousand kilometres.\n");
    writeFileSync(join(docs, "photo.jpg"), new Uint8Array([0xff, 0xd8, 0xff, 0, 0, 0]));
    const serve = Bun.spawn(
      [process.execPath, CLI_MAIN, "serve", "--http-port", "0", "--grpc-port", "0", "--data-dir", dataDir],
      {
        stdout: "pipe",
        stderr: "pipe",
        env: { ...process.env, DCSM_MODEL_OFFLINE: "1", DCSM_LOG_LEVEL: "warn", DCSM_WARMUP: "quick" },
      },
    );
    const reader = serve.stdout.getReader();
    let banner = "";
    while (!banner.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) break;
      banner += new TextDecoder().decode(value);
    }
    const m = /on (http:\/\/[^ ]+) and gRPC on (http:\/\/\S+)/.exec(banner);
    expect(m).not.toBeNull();
    const url = m![1]!;
    try {
      const ingest = await runCli(["ingest", docs, "--url", url]);
      expect(ingest.code).toBe(0);
      expect(ingest.stdout).toMatch(/ingested 2 files as 2 chunks/);
      const search = await runCli(["search", "how often should I service my vehicle?", "--k", "2", "--url", url]);
      expect(search.code).toBe(0);
      const firstHit = search.stdout.split("\n").find((l) => /^\s+\d\.\d{3}\s/.test(l));
      expect(firstHit).toContain("notes/car.md:1-3");
      const grpcSearch = await runCli([
        "search",
        "growing vegetables",
        "--k",
        "1",
        "--url",
        m![2]!,
        "--protocol",
        "grpc",
      ]);
      expect(grpcSearch.code).toBe(0);
      expect(grpcSearch.stdout).toContain("notes/garden.md:1-3");
      // Without --url, client commands find the server the same environment would start.
      const port = new URL(url).port;
      const viaEnv = await runCli(["search", "Tomatoes", "--k", "1", "--mode", "lexical"], {
        DCSM_URL: "",
        DCSM_HOST: "0.0.0.0",
        DCSM_HTTP_PORT: port,
      });
      expect(viaEnv.code).toBe(0);
      expect(viaEnv.stdout).toContain("notes/garden.md:1-3");
      const badMode = await runCli(["search", "x", "--mode", "fuzzy", "--url", url]);
      expect(badMode.code).toBe(2);
      expect(badMode.stderr).toContain("--mode must be hybrid, vector or lexical");
      const usage = await runCli(["search"]);
      expect(usage.code).toBe(2);
      expect(usage.stderr).toContain("search needs a QUERY");
    } finally {
      serve.kill("SIGTERM");
    }
    expect(await serve.exited).toBe(0);
  }, 60_000);

  test("invalid configuration is reported with the variable name", async () => {
    const res = await runCli(["serve"], { DCSM_HTTP_PORT: "not-a-port" });
    expect(res.code).toBe(2);
    expect(res.stderr).toContain("httpPort (DCSM_HTTP_PORT)");
  });

  test("serve refuses a non-loopback bind without authentication; keys new prints a key and its hash entry", async () => {
    const res = await runCli(
      ["serve", "--host", "0.0.0.0", "--http-port", "0", "--grpc-port", "0", "--data-dir", tempDir("dcsm-cli-noauth-")],
      { DCSM_API_KEYS: "", DCSM_API_KEYS_FILE: "" },
    );
    expect(res.code).toBe(1);
    expect(res.stderr).toContain("refusing to serve on 0.0.0.0 without authentication");
    const keys = await runCli(["keys", "new", "--id", "agent-a", "--scope", "team-a:read,write"]);
    expect(keys.code).toBe(0);
    const key = /key \(shown once; give it to the agent\): (dcsm_\S+)/.exec(keys.stdout)?.[1];
    const entry = JSON.parse(keys.stdout.slice(keys.stdout.indexOf("{")));
    expect(entry).toEqual({
      id: "agent-a",
      sha256: new Bun.CryptoHasher("sha256").update(key!).digest("hex"),
      scopes: ["team-a:read,write"],
    });
    expect((await runCli(["keys", "new", "--id", "x", "--scope", "team-a:fly"])).code).toBe(2);
  });
});
