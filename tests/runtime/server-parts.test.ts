/**
 * The server's start and stop over real parts: each start step is made to fail with a real fault
 * (a file where a folder must be, a missing model, a refused Qdrant or Redis connection, a taken
 * port) and what had started before must be stopped: no file under the data folder left open,
 * ports free again, Redis connections closed. Warm-up, where no real fault can be produced with
 * the shared model, fails through an embedder wrapper named as the fault it injects.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, readdirSync, readlinkSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { type DcsmConfig, loadConfig } from "../../runtime/config.ts";
import { startDcsmServer } from "../../runtime/server.ts";
import type { Embedder } from "../../services/kps/ports.ts";
import { testEmbedder } from "../helpers/model.ts";
import { redisPerFile } from "../helpers/redis-per-file.ts";
import { freePort } from "../helpers/redis-server.ts";
import { tempDir } from "../helpers/temp-dir.ts";
import { makeSelfSignedCert } from "../helpers/tls-cert.ts";

const redis = redisPerFile();
let model: Embedder;
beforeAll(async () => {
  model = await testEmbedder();
});

/** Files this process holds open under `dir` (from /proc/self/fd). */
function openFilesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const fd of readdirSync("/proc/self/fd")) {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      if (target.startsWith(dir)) out.push(target);
    } catch {
      /* closed meanwhile */
    }
  }
  return out;
}

/** True when a TCP listener can bind `port` on 127.0.0.1 (nothing holds it). */
function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once("error", () => resolve(false));
    srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)));
  });
}

/** Holds `port` on 127.0.0.1 until closed. */
function holdPort(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(port, "127.0.0.1", () => resolve(srv));
  });
}

/** Redis clients connected now (CLIENT LIST, minus the redis-cli asking). */
async function redisClients(): Promise<number> {
  return (await redis.server.cli("CLIENT", "LIST")).trim().split("\n").length - 1;
}

interface Attempt {
  error: unknown;
  started: string[];
  stopped: string[];
  dataDir: string;
  httpPort: number;
  grpcPort: number;
}

/**
 * Starts a server expected to fail, with a debug logger capturing the part lines.
 * @param overrides - configuration overrides (the fault).
 * @param embedder - the model to share. @default the test model
 */
async function failedStart(
  overrides: Partial<Record<keyof DcsmConfig, unknown>>,
  embedder: Embedder | null = model,
  dataDir = tempDir("dcsm-parts-"),
): Promise<Attempt> {
  const httpPort = (overrides.httpPort as number | undefined) ?? (await freePort());
  const grpcPort = (overrides.grpcPort as number | undefined) ?? (await freePort());
  const lines: { msg: string; part?: string }[] = [];
  const logger = pino({ level: "debug" }, { write: (s: string) => void lines.push(JSON.parse(s)) });
  const config = loadConfig(
    {},
    { dataDir, logLevel: "debug", modelOffline: true, warmup: "quick", ...overrides, httpPort, grpcPort },
  );
  let error: unknown;
  try {
    const server = await startDcsmServer(config, { embedder: embedder ?? undefined, logger });
    await server.close();
  } catch (err) {
    error = err;
  }
  const names = (msg: string) => lines.filter((l) => l.msg === msg).map((l) => l.part!);
  return { error, started: names("part started"), stopped: names("part stopped"), dataDir, httpPort, grpcPort };
}

/** Every started part was stopped, in reverse order, and no file under the data folder is open. */
function expectTornDown(a: Attempt): void {
  expect(a.error).toBeDefined();
  expect(a.stopped).toEqual(a.started.slice().reverse());
  expect(openFilesUnder(a.dataDir)).toEqual([]);
}

describe("a failed start stops what started before it", () => {
  test("data folder: a file where the folder must be", async () => {
    const parent = tempDir("dcsm-parts-");
    writeFileSync(join(parent, "not-a-folder"), "x");
    const a = await failedStart({}, model, join(parent, "not-a-folder", "data"));
    expect(String(a.error)).toContain("ENOTDIR");
    expect(a.started).toEqual([]);
    expectTornDown(a);
  });

  test("embedding model: a model that is not there", async () => {
    const a = await failedStart({ model: "no-such-model", modelDir: tempDir("dcsm-no-models-") }, null);
    expect(a.started).toEqual(["data folder", "authentication"]);
    expectTornDown(a);
  });

  test("embedding model: another dimension than DCSM_VECTOR_DIM; a preloaded model stays loaded", async () => {
    const a = await failedStart({ dimension: model.dimension + 1 });
    expect(String(a.error)).toContain(`DCSM_VECTOR_DIM is ${model.dimension + 1}`);
    expect(a.started).toEqual(["data folder", "authentication"]);
    expectTornDown(a);
    expect((await model.embed(["still loaded"]))[0]!.length).toBe(model.dimension);
  });

  test("storage: glm.sqlite is a folder", async () => {
    const dataDir = tempDir("dcsm-parts-");
    mkdirSync(join(dataDir, "glm.sqlite"));
    const a = await failedStart({}, model, dataDir);
    expect(a.started).toEqual(["data folder", "authentication", "embedding model", "embedding stack"]);
    expectTornDown(a);
  });

  test("vector index: Qdrant refuses connections", async () => {
    const a = await failedStart({ qdrantUrl: `http://127.0.0.1:${await freePort()}` });
    expect(String(a.error)).toContain("Qdrant collection setup failed");
    expect(a.started.at(-1)).toBe("storage");
    expectTornDown(a);
  });

  test("KPS: its outbox file (remote GLM) is a folder", async () => {
    const dataDir = tempDir("dcsm-parts-");
    mkdirSync(join(dataDir, "kps-outbox.sqlite"));
    const a = await failedStart({ glmUrl: `http://127.0.0.1:${await freePort()}` }, model, dataDir);
    expect(a.started.at(-1)).toBe("GLM");
    expectTornDown(a);
  });

  test("SWM: Redis refuses connections", async () => {
    const a = await failedStart({ redisUrl: `redis://127.0.0.1:${await freePort()}` });
    expect(a.started.at(-1)).toBe("KPS");
    expectTornDown(a);
  });

  test("HTTP host: the port is taken; SWM's Redis connections are closed", async () => {
    const before = await redisClients();
    const port = await freePort();
    const held = await holdPort(port);
    try {
      const a = await failedStart({ httpPort: port, redisUrl: redis.server.url, swmRedisPrefix: "parts-http:" });
      expect(String(a.error)).toMatch(/EADDRINUSE|in use/i);
      expect(a.started.at(-1)).toBe("TLS material");
      expect(a.started).toContain("SWM");
      expectTornDown(a);
      expect(await redisClients()).toBe(before);
      expect(await portIsFree(a.grpcPort)).toBe(true);
    } finally {
      held.close();
    }
  });

  test("gRPC listener: the port is taken; the HTTP port is released", async () => {
    const port = await freePort();
    const held = await holdPort(port);
    try {
      const a = await failedStart({ grpcPort: port });
      expect(String(a.error)).toMatch(/EADDRINUSE|in use/i);
      expect(a.started.at(-1)).toBe("HTTP host");
      expectTornDown(a);
      expect(await portIsFree(a.httpPort)).toBe(true);
    } finally {
      held.close();
    }
  });

  test("TLS listener: the port is taken; the inner socket's folder is removed", async () => {
    const cert = makeSelfSignedCert(tempDir("dcsm-parts-cert-"));
    const socketDirs = () => readdirSync(tmpdir()).filter((n) => n.startsWith("dcsm-tls-"));
    const dirsBefore = socketDirs();
    const port = await freePort();
    const held = await holdPort(port);
    try {
      const a = await failedStart({ httpPort: port, tlsCert: cert.certPath, tlsKey: cert.keyPath });
      expect(String(a.error)).toMatch(/EADDRINUSE|in use/i);
      expect(a.started.at(-1)).toBe("HTTP host");
      expectTornDown(a);
      expect(socketDirs()).toEqual(dirsBefore);
    } finally {
      held.close();
    }
  });

  test("model warm-up fails (injected fault): both listeners' ports are released", async () => {
    // Fault injection, named as such: the shared model cannot be made to fail for real.
    const failingWarmUp: Embedder = {
      ...model,
      embed: async () => Promise.reject(new Error("injected fault: the model failed")),
    };
    const a = await failedStart({}, failingWarmUp);
    expect(String(a.error)).toContain("injected fault");
    expect(a.started.at(-1)).toMatch(/gRPC listener/);
    expectTornDown(a);
    expect(await portIsFree(a.httpPort)).toBe(true);
    expect(await portIsFree(a.grpcPort)).toBe(true);
  });
});

describe("close", () => {
  test("stops every part in reverse order, releases the ports and closes the files; a second close waits for the same teardown", async () => {
    const dataDir = tempDir("dcsm-parts-");
    const [httpPort, grpcPort] = [await freePort(), await freePort()];
    const lines: { msg: string; part?: string }[] = [];
    const logger = pino({ level: "debug" }, { write: (s: string) => void lines.push(JSON.parse(s)) });
    const server = await startDcsmServer(
      loadConfig({}, { dataDir, httpPort, grpcPort, modelOffline: true, warmup: "quick" }),
      { embedder: model, logger },
    );
    expect((await fetch(`${server.httpUrl}/health`)).status).toBe(200);
    expect(openFilesUnder(dataDir).length).toBeGreaterThan(0);
    await Promise.all([server.close(), server.close()]);
    const started = lines.filter((l) => l.msg === "part started").map((l) => l.part);
    const stopped = lines.filter((l) => l.msg === "part stopped").map((l) => l.part);
    expect(started.at(-1)).toBe("serving");
    expect(stopped).toEqual(started.slice().reverse());
    expect(openFilesUnder(dataDir)).toEqual([]);
    expect(await portIsFree(httpPort)).toBe(true);
    expect(await portIsFree(grpcPort)).toBe(true);
  });
});
