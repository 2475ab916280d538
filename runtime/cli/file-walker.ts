/**
 * Finds the text files to ingest under the given paths: walks folders, honours `.gitignore` files
 * (via the `ignore` package) and built-in ignores, and skips binary, empty and oversize files.
 * @module
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { extname, join, relative, resolve, sep } from "node:path";
import ignore, { type Ignore } from "ignore";

/** A file chosen for ingestion. */
export interface IngestFile {
  /** Absolute path. */
  path: string;
  /** Path relative to the walk root it was found under (POSIX separators), used as `source_path`. */
  sourcePath: string;
  /** MIME type guessed from the extension. */
  contentType: string;
  /** Size in bytes. */
  size: number;
}

/** Why a file was skipped. */
export type SkipReason = "binary" | "empty" | "too-large" | "ignored" | "unreadable";

/** Options of {@link walkIngestFiles}. */
export interface WalkOptions {
  /** Largest file to ingest, in bytes. @default 1048576 */
  maxFileBytes?: number;
  /** Extra gitignore-style patterns to skip, relative to each walked folder. */
  exclude?: string[];
  /** Called for every skipped file (not for ignored folders). */
  onSkip?: (path: string, reason: SkipReason) => void;
}

/** Folders and files never ingested, whatever `.gitignore` says. */
const ALWAYS_IGNORED = [
  ".git/",
  "node_modules/",
  "data/",
  "dist/",
  ".cache/",
  "*.lock",
  "package-lock.json",
  "bun.lockb",
  "*.onnx",
  "*.min.js",
  "*.map",
];

const TYPES: Record<string, string> = {
  ".md": "text/markdown",
  ".markdown": "text/markdown",
  ".ts": "text/x-typescript",
  ".tsx": "text/x-typescript",
  ".js": "text/javascript",
  ".mjs": "text/javascript",
  ".cjs": "text/javascript",
  ".jsx": "text/javascript",
  ".json": "application/json",
  ".py": "text/x-python",
  ".go": "text/x-go",
  ".rs": "text/x-rust",
  ".proto": "text/x-protobuf",
  ".html": "text/html",
  ".css": "text/css",
  ".yaml": "text/yaml",
  ".yml": "text/yaml",
  ".toml": "text/x-toml",
  ".sh": "text/x-shellscript",
};

/** MIME type of a file by extension ("text/plain" when unknown). */
export function contentTypeOf(path: string): string {
  return TYPES[extname(path).toLowerCase()] ?? "text/plain";
}

/** True when the bytes look binary: a NUL byte in the first 8 KiB, or invalid UTF-8. */
export function looksBinary(bytes: Uint8Array): boolean {
  const head = bytes.subarray(0, 8192);
  if (head.includes(0)) return true;
  try {
    new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    return false;
  } catch {
    return true;
  }
}

/**
 * Walks `paths` (files or folders) and returns the text files to ingest, sorted by path.
 * @param paths - files or folders.
 * @param options - size limit and skip callback.
 * @throws the `stat` error when a given path does not exist.
 */
export function walkIngestFiles(paths: string[], options: WalkOptions = {}): IngestFile[] {
  const maxBytes = options.maxFileBytes ?? 1024 * 1024;
  const out: IngestFile[] = [];
  const skip = options.onSkip ?? (() => {});

  const consider = (abs: string, root: string, size: number) => {
    if (size === 0) return skip(abs, "empty");
    if (size > maxBytes) return skip(abs, "too-large");
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(abs);
    } catch {
      return skip(abs, "unreadable");
    }
    if (looksBinary(bytes)) return skip(abs, "binary");
    const rel = relative(root, abs).split(sep).join("/") || abs.split(sep).pop()!;
    out.push({ path: abs, sourcePath: rel, contentType: contentTypeOf(abs), size });
  };

  const walk = (dir: string, root: string, rules: { base: string; ig: Ignore }[]) => {
    let local = rules;
    try {
      const gi = readFileSync(join(dir, ".gitignore"), "utf8");
      local = [...rules, { base: dir, ig: ignore().add(gi) }];
    } catch {
      /* no .gitignore here */
    }
    const entries = readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name));
    for (const e of entries) {
      const abs = join(dir, e.name);
      const isDir = e.isDirectory();
      const ignored = local.some(({ base, ig }) => {
        const rel = relative(base, abs).split(sep).join("/");
        return rel !== "" && !rel.startsWith("..") && ig.ignores(isDir ? `${rel}/` : rel);
      });
      if (ignored) {
        if (!isDir) skip(abs, "ignored");
        continue;
      }
      if (isDir) walk(abs, root, local);
      else if (e.isFile()) consider(abs, root, statSync(abs).size);
    }
  };

  for (const p of paths) {
    const abs = resolve(p);
    const st = statSync(abs);
    const builtin = {
      base: st.isDirectory() ? abs : resolve(abs, ".."),
      ig: ignore()
        .add(ALWAYS_IGNORED)
        .add(options.exclude ?? []),
    };
    if (st.isDirectory()) walk(abs, abs, [builtin]);
    else consider(abs, resolve(abs, ".."), st.size);
  }
  return out.sort((a, b) => a.sourcePath.localeCompare(b.sourcePath));
}
