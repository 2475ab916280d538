/**
 * `dcsm ingest --watch`: after the first pass, watches each folder (recursive `fs.watch`)
 * and re-indexes the files that changed, in debounced rounds; files deleted or newly ignored lose
 * their KEMs. Unchanged chunks of a changed file are skipped by KPS, so a round costs about one
 * model call per edited definition.
 * @module
 */
import { type FSWatcher, watch } from "node:fs";
import { resolve, sep } from "node:path";
import type { DcsmClients } from "./clients.ts";
import { walkIngestFiles } from "./file-walker.ts";
import { type IngestOptions, type IngestReport, ingestPaths } from "./ingest.ts";

/** Options of {@link watchFolders}. */
export interface WatchOptions extends IngestOptions {
  /** Quiet time after the last change before a round starts, in ms. @default 300 */
  debounceMs?: number;
  /** Called after every round with the changed paths it looked at. */
  onRound?: (report: IngestReport, changed: string[]) => void;
  /** Called when a round fails (the watcher keeps going). */
  onError?: (err: unknown) => void;
}

/**
 * Watches folders until `signal` aborts.
 * @param clients - DCSM clients.
 * @param folders - folders already ingested once.
 * @param signal - stops watching.
 * @param options - ingest options, debounce and callbacks.
 * @returns when stopped.
 */
export async function watchFolders(
  clients: DcsmClients,
  folders: string[],
  signal: AbortSignal,
  options: WatchOptions = {},
): Promise<void> {
  const roots = folders.map((f) => resolve(f));
  const known = new Map(roots.map((r) => [r, new Set(walkIngestFiles([r], options).map((f) => f.sourcePath))]));
  const changed = new Map<string, Set<string>>(roots.map((r) => [r, new Set()]));
  let timer: ReturnType<typeof setTimeout> | undefined;
  let running: Promise<void> = Promise.resolve();

  const round = async () => {
    for (const root of roots) {
      const paths = changed.get(root)!;
      if (paths.size === 0) continue;
      const batch = new Set(paths);
      paths.clear();
      const now = new Set(walkIngestFiles([root], options).map((f) => f.sourcePath));
      const before = known.get(root)!;
      known.set(root, now);
      const relevant = [...batch].filter((p) => now.has(p) || before.has(p));
      if (relevant.length === 0) continue;
      try {
        const report = await ingestPaths(clients, [root], {
          ...options,
          progress: false,
          only: new Set(relevant.filter((p) => now.has(p))),
        });
        options.onRound?.(report, relevant);
      } catch (err) {
        options.onError?.(err);
      }
    }
  };

  const watchers: FSWatcher[] = roots.map((root) =>
    watch(root, { recursive: true }, (_event, filename) => {
      if (!filename) return;
      const rel = filename.toString().split(sep).join("/");
      if (rel.startsWith(".git/") || rel.includes("node_modules/")) return;
      changed.get(root)!.add(rel);
      clearTimeout(timer);
      timer = setTimeout(() => {
        running = running.then(round);
      }, options.debounceMs ?? 300);
    }),
  );
  await new Promise<void>((done) => {
    if (signal.aborted) return done();
    signal.addEventListener("abort", () => done(), { once: true });
  });
  clearTimeout(timer);
  for (const w of watchers) w.close();
  await running;
}
