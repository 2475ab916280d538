/**
 * `dcsm ingest`: sends every text file under the given paths to KPS `ProcessRawData`, a few at a
 * time, with a progress bar showing files, chunks and chunks/s.
 * @module
 */
import { readFileSync } from "node:fs";
import { SingleBar, Presets } from "cli-progress";
import type { DcsmClients } from "./clients.ts";
import { walkIngestFiles, type SkipReason } from "./file-walker.ts";

/** Options of {@link ingestPaths}. */
export interface IngestOptions {
  /** Files in flight at once. @default 2 */
  concurrency?: number;
  /** Show a progress bar on stderr (only drawn on a TTY). @default true */
  progress?: boolean;
  /** Chunk size in characters (0: server default). @default 0 */
  maxChunkChars?: number;
  /** Largest file to ingest in bytes. @default 1048576 */
  maxFileBytes?: number;
  /** Extra gitignore-style patterns to skip. */
  exclude?: string[];
}

/** Outcome of an ingestion run. */
export interface IngestReport {
  /** Files ingested. */
  files: number;
  /** Chunks (KEMs) stored. */
  chunks: number;
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
export async function ingestPaths(clients: DcsmClients, paths: string[], options: IngestOptions = {}): Promise<IngestReport> {
  const skipped: Partial<Record<SkipReason, number>> = {};
  const files = walkIngestFiles(paths, { maxFileBytes: options.maxFileBytes, exclude: options.exclude, onSkip: (_p, r) => void (skipped[r] = (skipped[r] ?? 0) + 1) });
  const bar = new SingleBar(
    { format: "ingest [{bar}] {value}/{total} files | {chunks} chunks | {rate} chunks/s | {file}", hideCursor: true, stream: process.stderr },
    Presets.shades_classic,
  );
  const showBar = options.progress !== false;
  if (showBar) bar.start(files.length, 0, { chunks: 0, rate: "0.0", file: "" });
  const t0 = performance.now();
  let chunks = 0;
  let done = 0;
  const failed: { path: string; error: string }[] = [];
  let next = 0;
  const worker = async () => {
    while (next < files.length) {
      const f = files[next++]!;
      try {
        const res = await clients.kps.processRawData({
          rawContent: readFileSync(f.path),
          contentType: f.contentType,
          sourcePath: f.sourcePath,
          maxChunkChars: options.maxChunkChars ?? 0,
          initialMetadata: { kind: f.contentType === "text/markdown" ? "doc" : "code" },
        });
        chunks += res.kemIds.length;
      } catch (err) {
        failed.push({ path: f.sourcePath, error: (err as Error).message });
      }
      done++;
      if (showBar) bar.update(done, { chunks, rate: (chunks / ((performance.now() - t0) / 1000)).toFixed(1), file: f.sourcePath.slice(-40) });
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 2) }, worker));
  if (showBar) bar.stop();
  const seconds = (performance.now() - t0) / 1000;
  return { files: done - failed.length, chunks, failed, skipped, seconds, chunksPerSecond: seconds > 0 ? chunks / seconds : 0 };
}
