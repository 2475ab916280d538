/**
 * Start-up of the single `dcsm` executable (`bun build --compile`, see scripts/build-binary.ts):
 * native addons and the bundled model are embedded in the executable as files, but native code
 * can only be loaded from a real file system and onnxruntime's addon needs `libonnxruntime.so.1`
 * beside it, so they are copied once to a cache folder named after the build; the rewritten addon
 * loaders call {@link nativeDir} (also in worker threads, which do not see environment changes
 * made by the main thread), and `DCSM_MODEL_DIR` points there unless set.
 * @module
 */
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { dirname, join } from "node:path";

/** Embedded files: destination path (relative to the cache folder) → embedded path (`$bunfs`). */
export interface EmbeddedAssets {
  /** Native addons and their libraries, copied to `<cache>/native/`. */
  native: Record<string, string>;
  /** Model files, copied to `<cache>/models/` (Transformers.js layout: `<model id>/…`). */
  models: Record<string, string>;
}

/**
 * The cache folder: `DCSM_CACHE_DIR`, else `$XDG_CACHE_HOME/dcsm`, else `~/.cache/dcsm`
 * (the system temp folder when there is no home), plus the build id.
 */
export function cacheDirOf(buildId: string, env: Record<string, string | undefined> = process.env): string {
  const home = (() => {
    try {
      return homedir();
    } catch {
      return "";
    }
  })();
  const base =
    env.DCSM_CACHE_DIR ||
    (env.XDG_CACHE_HOME
      ? join(env.XDG_CACHE_HOME, "dcsm")
      : home
        ? join(home, ".cache", "dcsm")
        : join(tmpdir(), "dcsm-cache"));
  return join(base, buildId);
}

function copyOnce(from: string, to: string): void {
  const size = statSync(from).size;
  if (existsSync(to) && statSync(to).size === size) return;
  mkdirSync(dirname(to), { recursive: true });
  const tmp = `${to}.${process.pid}.tmp`;
  writeFileSync(tmp, readFileSync(from)); // copyFileSync cannot read the embedded file system
  renameSync(tmp, to); // atomic: a concurrent start never sees half a file
}

/**
 * Folder of the unpacked native files: `DCSM_NATIVE_DIR` when set, else `<cache>/native` of this
 * build (`process.env.DCSM_BINARY_BUILD` is replaced by the build id at build time).
 */
export function nativeDir(): string {
  return process.env.DCSM_NATIVE_DIR || join(cacheDirOf(process.env.DCSM_BINARY_BUILD ?? "dev"), "native");
}

/**
 * Copies the embedded assets to the cache (skipping files already there with the right size)
 * and sets `DCSM_NATIVE_DIR`, and `DCSM_MODEL_DIR` unless the environment already names one.
 * @returns the cache folder.
 * @throws Error naming the folder when it cannot be written (set DCSM_CACHE_DIR elsewhere).
 */
export function prepareBinaryAssets(buildId: string, assets: EmbeddedAssets): string {
  const dir = cacheDirOf(buildId);
  try {
    for (const [rel, from] of Object.entries(assets.native)) copyOnce(from, join(dir, "native", rel));
    for (const [rel, from] of Object.entries(assets.models)) copyOnce(from, join(dir, "models", rel));
  } catch (err) {
    throw new Error(
      `dcsm: cannot unpack native libraries and the model into ${dir} (set DCSM_CACHE_DIR to a writable folder): ${(err as Error).message}`,
    );
  }
  process.env.DCSM_NATIVE_DIR = join(dir, "native");
  process.env.DCSM_MODEL_DIR ||= join(dir, "models");
  return dir;
}
