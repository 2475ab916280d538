/**
 * End-to-end ingest through a DCSM server against the raw model on the same texts (targets: ≥ 85%
 * of the raw pipeline; into a store of 100k KEMs ≥ 90% of the rate into an empty one).
 *
 * - `kps.ingest/turns`: LoCoMo dev-split dialogue turns, one document each (a fresh `data_id` per
 *   repeat, so every turn is embedded and stored), sent with `BatchProcessRawData` over Connect
 *   (binary) as `dcsm ingest` does: 64 documents per call, 2 calls in flight. Skipped, with a
 *   message, when the data set is absent (`locomoDir()` in bench/lib/locomo.ts).
 * - `kps.ingest/code`: this repository's source (the first files of services, runtime, sdk and
 *   bench, generated code excluded, up to BENCH_INGEST_CODE_BYTES), the same way, with a fresh
 *   `source_path` prefix per repeat. Ops are chunks.
 * - `kps.raw-pipeline/{turns,code}`: the library's feature-extraction pipeline (same model file,
 *   default session options) on exactly the texts the model sees for those documents (the turns;
 *   the code chunks as KPS cuts them), in batches of 32, one call after another.
 * - `kps.ingest/turns-100k` against `kps.ingest/turns-empty`: the turns ingest into a server whose
 *   store already holds 100,000 KEMs (the glm.filter bench store: HNSW graph restored from its
 *   snapshot) against a server started empty, interleaved.
 *
 * Environment: BENCH_INGEST_TURNS (turns per repeat, 512), BENCH_INGEST_CODE_BYTES (source bytes
 * per repeat, 131072), BENCH_INGEST_BATCH (documents per call, 64), plus DCSM_MODEL / DCSM_MODEL_DIR / DCSM_MODEL_DTYPE for the model.
 * @module
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createDcsmClients, type DcsmClients } from "../../runtime/cli/clients.ts";
import { walkIngestFiles } from "../../runtime/cli/file-walker.ts";
import { type DcsmConfig, loadConfig, REPO_ROOT } from "../../runtime/config.ts";
import { type DcsmServer, startDcsmServer } from "../../runtime/server.ts";
import { createNodeTransport } from "../../sdk/server.ts";
import { assembleGlm } from "../../services/glm/assembly.ts";
import { createSqliteKemStore } from "../../services/glm/store/sqlite-store.ts";
import { createHnswVectorIndex } from "../../services/glm/vector/hnsw-index.ts";
import { chunkDocument } from "../../services/kps/chunking/chunk-document.ts";
import { fitChunksToModel } from "../../services/kps/service.ts";
import { benchDir } from "../lib/fixtures.ts";
import { loadLocomo, locomoDir } from "../lib/locomo.ts";
import { type Contender, compareRuns, type Sample } from "../lib/measure.ts";
import type { BenchResult } from "../lib/stats.ts";
import { fillFilterBenchStore } from "./glm-filter-search.ts";

const RAW_BATCH = 32;
const IN_FLIGHT = 2;

interface Doc {
  text: string;
  sourcePath: string;
  contentType: string;
}

function serverConfig(dataDir: string): DcsmConfig {
  // Cache off: every repeat must reach the model, as a first ingest does.
  return loadConfig(process.env, {
    httpPort: 0,
    grpcPort: 0,
    dataDir,
    logLevel: "warn",
    modelOffline: true,
    embedCacheMb: 0,
    warmup: "full",
  });
}

/** The raw baseline: the library's pipeline as its README shows it, on `texts`, batches of 32. */
async function rawPipeline(config: DcsmConfig) {
  const tf = await import("@huggingface/transformers");
  tf.env.localModelPath = config.modelDir.endsWith("/") ? config.modelDir : `${config.modelDir}/`;
  tf.env.allowRemoteModels = false;
  const extractor = await tf.pipeline("feature-extraction", config.model, { dtype: config.modelDtype, device: "cpu" });
  return async (texts: string[]): Promise<Sample> => {
    const t0 = performance.now();
    for (let i = 0; i < texts.length; i += RAW_BATCH)
      await extractor(texts.slice(i, i + RAW_BATCH), { pooling: "mean", normalize: true });
    return { n: texts.length, wallMs: performance.now() - t0 };
  };
}

/**
 * Ingests `docs` with BatchProcessRawData, `batch` documents per call, {@link IN_FLIGHT} calls at once.
 * @returns chunks stored and wall time. Throws when any document fails.
 */
async function ingest(clients: DcsmClients, docs: Doc[], batch: number, tag: string): Promise<Sample> {
  const enc = new TextEncoder();
  let next = 0;
  let chunks = 0;
  const t0 = performance.now();
  const worker = async () => {
    while (next < docs.length) {
      const part = docs.slice(next, next + batch);
      next += batch;
      const res = await clients.kps.batchProcessRawData({
        documents: part.map((d) => ({
          rawContent: enc.encode(d.text),
          contentType: d.contentType,
          sourcePath: `${tag}/${d.sourcePath}`,
        })),
      });
      for (const r of res.results) {
        if (r.outcome.case !== "response")
          throw new Error(`document ${part[r.index]!.sourcePath} failed: ${r.outcome.value?.message}`);
        chunks += r.outcome.value.kemIds.length;
      }
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  return { n: chunks, wallMs: performance.now() - t0 };
}

async function startServer(dataDir: string): Promise<{ server: DcsmServer; clients: DcsmClients; config: DcsmConfig }> {
  const config = serverConfig(dataDir);
  const server = await startDcsmServer(config);
  return {
    server,
    config,
    clients: createDcsmClients(createNodeTransport({ baseUrl: server.httpUrl, protocol: "connect" })),
  };
}

function turnDocs(): Doc[] | undefined {
  const split = loadLocomo(locomoDir());
  if (!split) return undefined;
  return split.turns.map((t) => ({
    text: t.text,
    sourcePath: `${t.conversation}/${t.diaId}`,
    contentType: "text/plain",
  }));
}

/** `n` turns for repeat `round`, taken in order and wrapping around. */
function slice<T>(all: T[], n: number, round: number): T[] {
  return Array.from({ length: Math.min(n, all.length) }, (_, i) => all[(round * n + i) % all.length]!);
}

/**
 * `kps.ingest/turns` and `kps.ingest/code` against the raw pipeline on the same texts.
 * @returns the raw results and the ingest results with their ratios (target 0.85); without the
 *   LoCoMo data the turns pair is left out (logged).
 */
export async function benchKpsIngest(): Promise<BenchResult[]> {
  const turnsPerRepeat = Number(process.env.BENCH_INGEST_TURNS ?? 512);
  const codeBytes = Number(process.env.BENCH_INGEST_CODE_BYTES ?? 131072);
  const batch = Number(process.env.BENCH_INGEST_BATCH ?? 64);
  const { server, clients, config } = await startServer(benchDir("dcsm-bench-ingest-"));
  try {
    const raw = await rawPipeline(config);
    const out: BenchResult[] = [];
    const turns = turnDocs();
    if (!turns) console.error(`kps.ingest/turns skipped: no LoCoMo data at ${locomoDir()} (set DCSM_BENCH_LOCOMO_DIR)`);
    else {
      let rr = 0;
      let ir = 0;
      out.push(
        ...(await compareRuns(
          { name: "kps.raw-pipeline/turns", run: () => raw(slice(turns, turnsPerRepeat, rr++).map((d) => d.text)) },
          [
            {
              name: "kps.ingest/turns",
              target: 0.85,
              run: () => ingest(clients, slice(turns, turnsPerRepeat, ir), batch, `turns-r${ir++}`),
            },
          ],
        )),
      );
    }

    // This repository's source, cut as KPS cuts it (the raw pipeline embeds those exact chunks).
    const files = walkIngestFiles(
      ["services", "runtime", "sdk", "bench"].map((p) => join(REPO_ROOT, p)),
      { exclude: ["gen/"] },
    );
    const allDocs: Doc[] = files.map((f) => ({
      text: readFileSync(f.path, "utf8"),
      sourcePath: f.sourcePath,
      contentType: f.contentType,
    }));
    // The first files (walk order) up to about BENCH_INGEST_CODE_BYTES of source per repeat.
    const docs: Doc[] = [];
    for (let bytes = 0, i = 0; i < allDocs.length && bytes < codeBytes; i++) {
      docs.push(allDocs[i]!);
      bytes += allDocs[i]!.text.length;
    }
    const { createTransformersEmbedder } = await import("../../services/kps/embedder/transformers-embedder.ts");
    const tokenizerOnly = await createTransformersEmbedder({
      modelId: config.model,
      modelDir: config.modelDir,
      allowDownload: false,
      dtype: config.modelDtype,
    });
    const chunkTexts: string[] = [];
    for (const d of docs) {
      const doc = await chunkDocument(d.text, {
        sourcePath: d.sourcePath,
        contentType: d.contentType,
        maxChars: 1200,
        maxCodeChars: 600,
      });
      for (const c of await fitChunksToModel(doc.chunks, tokenizerOnly)) chunkTexts.push(c.text);
    }
    await tokenizerOnly.dispose();
    let cr = 0;
    out.push(
      ...(await compareRuns({ name: "kps.raw-pipeline/code", run: () => raw(chunkTexts) }, [
        { name: "kps.ingest/code", target: 0.85, run: () => ingest(clients, docs, batch, `code-r${cr++}`) },
      ])),
    );
    return out;
  } finally {
    await server.close();
  }
}

/**
 * `kps.ingest/turns-100k` against `kps.ingest/turns-empty`: the same turn ingest into two servers,
 * one started on a store of 100,000 KEMs, one started empty, interleaved (target 0.9).
 */
export async function benchKpsIngestLargeStore(): Promise<BenchResult[]> {
  const turns = turnDocs();
  if (!turns) {
    console.error(`kps.ingest/turns-100k skipped: no LoCoMo data at ${locomoDir()} (set DCSM_BENCH_LOCOMO_DIR)`);
    return [];
  }
  const turnsPerRepeat = Number(process.env.BENCH_INGEST_TURNS ?? 512);
  const batch = Number(process.env.BENCH_INGEST_BATCH ?? 64);
  // The 100k store, written the way the server keeps it (SQLite file + HNSW snapshot), then served.
  const fullDir = benchDir("dcsm-bench-ingest-100k-");
  {
    const store = createSqliteKemStore({ path: join(fullDir, "glm.sqlite") });
    const index = createHnswVectorIndex({ dimension: 384, snapshotDir: join(fullDir, "vector-index") });
    const { repository } = await assembleGlm({ store, index }).open();
    await fillFilterBenchStore(repository, 100_000);
    await index.drained();
    await index.snapshot();
    await index.close();
    await store.close();
  }
  const full = await startServer(fullDir);
  const empty = await startServer(benchDir("dcsm-bench-ingest-empty-"));
  try {
    let er = 0;
    let fr = 0;
    const contenders: Contender[] = [
      {
        name: "kps.ingest/turns-empty",
        run: () => ingest(empty.clients, slice(turns, turnsPerRepeat, er), batch, `empty-r${er++}`),
      },
      {
        name: "kps.ingest/turns-100k",
        target: 0.9,
        run: () => ingest(full.clients, slice(turns, turnsPerRepeat, fr), batch, `full-r${fr++}`),
      },
    ];
    const [base, cand] = await compareRuns(contenders[0]!, [contenders[1]!]);
    return [base!, cand!];
  } finally {
    await full.server.close();
    await empty.server.close();
  }
}
