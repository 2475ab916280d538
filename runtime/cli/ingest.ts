/**
 * `dcsm ingest`: sends every text file under the given paths to KPS `BatchProcessRawData`, many
 * files per call and a few calls at a time (falling back to one `ProcessRawData` per file against
 * a server without the batch RPC), with a progress bar showing files, chunks and chunks/s. KPS chunks code on syntax
 * boundaries and skips unchanged chunks; for each folder this also removes the KEMs of files that
 * are gone from it, found by the folder's `source_root` metadata.
 * @module
 */
import { readFileSync, statSync } from "node:fs";
import { resolve } from "node:path";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { Presets, SingleBar } from "cli-progress";
import type { ProcessRawDataRequestSchema, ProcessRawDataResponse } from "../../sdk/gen/dcsm/v1/kps_service_pb.ts";
import type { DcsmClients } from "./clients.ts";
import { type IngestFile, type SkipReason, walkIngestFiles } from "./file-walker.ts";
import { pruneDeletedFiles } from "./prune.ts";

/** Options of {@link ingestPaths}. */
export interface IngestOptions {
  /** `BatchProcessRawData` calls in flight at once. @default 2 */
  concurrency?: number;
  /** Most files per `BatchProcessRawData` call (the server's default limit is 256). @default 64 */
  batchFiles?: number;
  /** Most file bytes per `BatchProcessRawData` call (server default limit 16 MiB); a larger file goes alone. @default 4194304 */
  batchBytes?: number;
  /** Show a progress bar on stderr (only drawn on a TTY). @default true */
  progress?: boolean;
  /** Chunk size in characters (0: server default). @default 0 */
  maxChunkChars?: number;
  /** Largest file to ingest in bytes. @default 1048576 */
  maxFileBytes?: number;
  /** Extra gitignore-style patterns to skip. */
  exclude?: string[];
  /** Remove the KEMs of files no longer under an ingested folder. @default true */
  prune?: boolean;
  /** Only these source paths (per folder root), e.g. the files a watcher saw change. @default every file */
  only?: Set<string>;
}

/** Outcome of an ingestion run. */
export interface IngestReport {
  /** Files ingested. */
  files: number;
  /** Chunks (KEMs) the files have now. */
  chunks: number;
  /** Chunks the model embedded (new or changed text). */
  embedded: number;
  /** Chunks skipped because their text and position were unchanged. */
  unchanged: number;
  /** Files whose KEMs were removed because the file is gone. */
  removedFiles: number;
  /** KEMs removed: chunks of gone files and chunks that no longer exist in changed files. */
  removedChunks: number;
  /** Files that failed, with the error. */
  failed: { path: string; error: string }[];
  /** Skipped files by reason. */
  skipped: Partial<Record<SkipReason, number>>;
  /** Wall time in seconds. */
  seconds: number;
  /** Chunks stored per second of wall time. */
  chunksPerSecond: number;
}

/**
 * Ingests files through KPS.
 * @param clients - DCSM clients (any protocol).
 * @param paths - files or folders.
 * @param options - concurrency, progress, chunk size.
 * @returns counts and rate; per-file failures are reported, not thrown.
 */
export async function ingestPaths(
  clients: DcsmClients,
  paths: string[],
  options: IngestOptions = {},
): Promise<IngestReport> {
  const skipped: Partial<Record<SkipReason, number>> = {};
  const roots: { root: string; files: IngestFile[] }[] = [];
  const files: (IngestFile & { root?: string })[] = [];
  for (const p of paths) {
    const found = walkIngestFiles([p], {
      maxFileBytes: options.maxFileBytes,
      exclude: options.exclude,
      onSkip: (_p, r) => {
        skipped[r] = (skipped[r] ?? 0) + 1;
      },
    });
    const root = statSync(p).isDirectory() ? resolve(p) : undefined;
    if (root) roots.push({ root, files: found });
    for (const f of found) if (!options.only || options.only.has(f.sourcePath)) files.push({ ...f, root });
  }
  const bar = new SingleBar(
    {
      format: "ingest [{bar}] {value}/{total} files | {chunks} chunks | {rate} chunks/s | {file}",
      hideCursor: true,
      stream: process.stderr,
    },
    Presets.shades_classic,
  );
  const showBar = options.progress !== false;
  if (showBar) bar.start(files.length, 0, { chunks: 0, rate: "0.0", file: "" });
  const t0 = performance.now();
  let chunks = 0;
  let embedded = 0;
  let unchanged = 0;
  let removedChunks = 0;
  let done = 0;
  const failed: { path: string; error: string }[] = [];
  // Files grouped into calls of at most batchFiles files and batchBytes bytes.
  const maxFiles = Math.max(1, options.batchFiles ?? 64);
  const maxBytes = Math.max(1, options.batchBytes ?? 4 * 1024 * 1024);
  const groups: (IngestFile & { root?: string })[][] = [];
  let group: (IngestFile & { root?: string })[] = [];
  let groupBytes = 0;
  for (const f of files) {
    if (group.length > 0 && (group.length >= maxFiles || groupBytes + f.size > maxBytes)) {
      groups.push(group);
      group = [];
      groupBytes = 0;
    }
    group.push(f);
    groupBytes += f.size;
  }
  if (group.length > 0) groups.push(group);
  let batchRpc = true; // false once the server says it has no BatchProcessRawData
  const requestOf = (f: IngestFile & { root?: string }): MessageInitShape<typeof ProcessRawDataRequestSchema> => ({
    rawContent: readFileSync(f.path),
    contentType: f.contentType,
    sourcePath: f.sourcePath,
    maxChunkChars: options.maxChunkChars ?? 0,
    initialMetadata: {
      kind: f.contentType === "text/markdown" ? "doc" : "code",
      ...(f.root ? { source_root: f.root } : {}),
    },
  });
  const record = (f: IngestFile, outcome: ProcessRawDataResponse | Error) => {
    if (outcome instanceof Error) failed.push({ path: f.sourcePath, error: outcome.message });
    else {
      chunks += outcome.kemIds.length;
      embedded += outcome.chunksEmbedded;
      unchanged += outcome.chunksUnchanged;
      removedChunks += outcome.chunksRemoved;
    }
    done++;
    if (showBar)
      bar.update(done, {
        chunks,
        rate: (chunks / ((performance.now() - t0) / 1000)).toFixed(1),
        file: f.sourcePath.slice(-40),
      });
  };
  const one = async (f: IngestFile & { root?: string }) => {
    try {
      record(f, await clients.kps.processRawData(requestOf(f)));
    } catch (err) {
      record(f, err as Error);
    }
  };
  let next = 0;
  const worker = async () => {
    while (next < groups.length) {
      const g = groups[next++]!;
      if (!batchRpc) {
        for (const f of g) await one(f);
        continue;
      }
      let documents: MessageInitShape<typeof ProcessRawDataRequestSchema>[];
      try {
        documents = g.map(requestOf);
      } catch (err) {
        for (const f of g) record(f, err as Error);
        continue;
      }
      try {
        const res = await clients.kps.batchProcessRawData({ documents });
        for (const r of res.results) {
          const f = g[r.index]!;
          if (r.outcome.case === "response") record(f, r.outcome.value);
          else
            record(
              f,
              new Error(`[${r.outcome.value?.code ?? "unknown"}] ${r.outcome.value?.message ?? "not processed"}`),
            );
        }
      } catch (err) {
        if (err instanceof ConnectError && err.code === Code.Unimplemented) {
          batchRpc = false;
          for (const f of g) await one(f);
        } else for (const f of g) record(f, err as Error);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 2) }, worker));
  if (showBar) bar.stop();
  let removedFiles = 0;
  if (options.prune !== false) {
    for (const r of roots) {
      const pruned = await pruneDeletedFiles(clients, r.root, new Set(r.files.map((f) => f.sourcePath)));
      removedFiles += pruned.files;
      removedChunks += pruned.kems;
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  return {
    files: done - failed.length,
    chunks,
    embedded,
    unchanged,
    removedFiles,
    removedChunks,
    failed,
    skipped,
    seconds,
    chunksPerSecond: seconds > 0 ? chunks / seconds : 0,
  };
}
