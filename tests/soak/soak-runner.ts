/**
 * Memory soak of `/v1/embeddings` (memory stays flat;
 * docs/decisions/0008-bounded-embedding-queue.md): starts `dcsm serve` in a child process with full
 * warm-up, reads its RSS once it reports ready, sends `requests` requests of mixed sizes from
 * `clients` concurrent clients, lets it settle, and reads the RSS again. An embeddings service
 * without bounded work and timely GC grows until it is OOM-killed under this kind of load.
 * @module
 */
import { join } from "node:path";
import { REPO_ROOT } from "../../runtime/config.ts";
import { prng } from "../helpers/vectors.ts";

/** Options of {@link runSoak}. */
export interface SoakOptions {
  /** Requests to send. @default 20000 */
  requests?: number;
  /** Concurrent clients. @default 32 */
  clients?: number;
  /** Data folder of the server (a fresh temporary folder). */
  dataDir: string;
  /** Extra environment for the server (e.g. model location). */
  env?: Record<string, string>;
  /** Progress callback, called every 1000 requests. */
  onProgress?: (done: number, total: number) => void;
}

/** What a soak measured. */
export interface SoakReport {
  /** Requests sent. */
  requests: number;
  /** Inputs embedded (sum over requests). */
  inputs: number;
  /** Responses by HTTP status. */
  statuses: Record<number, number>;
  /** Requests that failed at the socket level. */
  networkErrors: number;
  /** Server RSS after warm-up, bytes. */
  rssAfterWarmup: number;
  /** Server RSS after the soak and a 3 s pause, bytes. */
  rssAfterSoak: number;
  /** `rssAfterSoak / rssAfterWarmup`. */
  ratio: number;
  /** Wall time of the soak, s. */
  seconds: number;
  /** Embedding cache hit ratio at the end. */
  cacheHitRatio: number;
  /** Model inputs actually embedded by the server (cache misses). */
  modelInputs: number;
}

const WORDS =
  "agent memory lock release vector index query store kem embedding chunk token window cache batch queue server client request response error retry timeout shard replica schema table column row commit rollback transaction".split(
    " ",
  );

/** A request body of mixed size: 70% one short query, 25% 2–8 snippets, 4% Roo's batch of 60 lines, 1% one input over the model window. */
function makeBody(rand: () => number, seq: number): { input: string[]; encoding_format: "base64" | "float" } {
  const sentence = (n: number) => {
    // One in three inputs repeats (a re-indexed, unchanged chunk); the rest are new.
    if (rand() < 0.33)
      return `function ${WORDS[Math.floor(rand() * 8)]}Handler() { return ${WORDS[Math.floor(rand() * 8)]}; }`;
    return `${seq} ${Array.from({ length: n }, () => WORDS[Math.floor(rand() * WORDS.length)]).join(" ")}`;
  };
  const r = rand();
  let input: string[];
  if (r < 0.7) input = [sentence(6 + Math.floor(rand() * 10))];
  else if (r < 0.95)
    input = Array.from({ length: 2 + Math.floor(rand() * 7) }, () => sentence(10 + Math.floor(rand() * 20)));
  else if (r < 0.99) input = Array.from({ length: 60 }, () => sentence(5 + Math.floor(rand() * 8)));
  else input = [sentence(300 + Math.floor(rand() * 200))];
  return { input, encoding_format: rand() < 0.7 ? "base64" : "float" };
}

async function health(
  url: string,
): Promise<
  { status: string; rssBytes: number; embedding: { cache: { hitRatio: number; misses: number } } } | undefined
> {
  try {
    const res = await fetch(`${url}/health`);
    return (await res.json()) as never;
  } catch {
    return undefined;
  }
}

/**
 * Runs the soak.
 * @throws when the server does not start or never reports ready within 120 s.
 */
export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const total = options.requests ?? 20000;
  const clients = options.clients ?? 32;
  const proc = Bun.spawn(
    [
      process.execPath,
      join(REPO_ROOT, "runtime/cli/main.ts"),
      "serve",
      "--http-port",
      "0",
      "--grpc-port",
      "0",
      "--data-dir",
      options.dataDir,
    ],
    {
      stdout: "pipe",
      stderr: "inherit",
      env: { ...process.env, DCSM_LOG_LEVEL: "warn", DCSM_WARMUP: "full", DCSM_MODEL_OFFLINE: "1", ...options.env },
    },
  );
  try {
    const reader = proc.stdout.getReader();
    let banner = "";
    const deadline = Date.now() + 120_000;
    while (!banner.includes("\n") && Date.now() < deadline) {
      const { value, done } = await reader.read();
      if (done) break;
      banner += new TextDecoder().decode(value);
    }
    const url = /on (http:\/\/\S+) and gRPC/.exec(banner)?.[1];
    if (!url) throw new Error(`server did not start: ${banner}`);
    let h = await health(url);
    while (h?.status !== "ok" && Date.now() < deadline) {
      await Bun.sleep(200);
      h = await health(url);
    }
    if (h?.status !== "ok") throw new Error("server never became ready");
    await Bun.sleep(1000);
    const rssAfterWarmup = (await health(url))!.rssBytes;

    const statuses: Record<number, number> = {};
    let sent = 0;
    let inputs = 0;
    let networkErrors = 0;
    const t0 = performance.now();
    const client = async (id: number) => {
      const rand = prng(1000 + id);
      while (sent < total) {
        const seq = sent++;
        const body = makeBody(rand, seq);
        inputs += body.input.length;
        try {
          const res = await fetch(`${url}/v1/embeddings`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify(body),
          });
          await res.arrayBuffer();
          statuses[res.status] = (statuses[res.status] ?? 0) + 1;
          if (res.status === 429) await Bun.sleep(Number(res.headers.get("retry-after") ?? 1) * 1000);
        } catch {
          networkErrors++;
        }
        if ((seq + 1) % 1000 === 0) options.onProgress?.(seq + 1, total);
      }
    };
    await Promise.all(Array.from({ length: clients }, (_, i) => client(i)));
    const seconds = (performance.now() - t0) / 1000;
    await Bun.sleep(3000);
    const end = (await health(url))!;
    return {
      requests: total,
      inputs,
      statuses,
      networkErrors,
      rssAfterWarmup,
      rssAfterSoak: end.rssBytes,
      ratio: end.rssBytes / rssAfterWarmup,
      seconds,
      cacheHitRatio: end.embedding.cache.hitRatio,
      modelInputs: end.embedding.cache.misses,
    };
  } finally {
    proc.kill("SIGTERM");
    await proc.exited;
  }
}

/** One-line summary of a report (MiB, rates). */
export function formatSoak(r: SoakReport): string {
  const mib = (b: number) => (b / 1048576).toFixed(1);
  return (
    `${r.requests} requests (${r.inputs} inputs, ${r.modelInputs} embedded by the model) in ${r.seconds.toFixed(1)} s ` +
    `(${(r.requests / r.seconds).toFixed(1)} req/s); statuses ${JSON.stringify(r.statuses)}, network errors ${r.networkErrors}; ` +
    `cache hit ratio ${r.cacheHitRatio.toFixed(3)}; RSS after warm-up ${mib(r.rssAfterWarmup)} MiB, after soak ${mib(r.rssAfterSoak)} MiB (x${r.ratio.toFixed(3)})`
  );
}
