/**
 * Language-aware chunking: tree-sitter grammars for TypeScript, Python, Go, Rust and
 * Markdown; one chunk per definition with its symbol; big definitions split into members; every
 * line kept; line-window fallback for other text.
 */
import { describe, expect, test } from "bun:test";
import { chunkDocument } from "../../../services/kps/chunking/chunk-document.ts";
import { chunkCode } from "../../../services/kps/chunking/code-chunker.ts";
import { detectLanguage, LANGUAGES } from "../../../services/kps/chunking/languages.ts";

/** Every chunk's text is exactly its line range of the source, and chunks never overlap. */
function expectFaithful(source: string, chunks: { text: string; startLine: number; endLine: number; index: number }[]) {
  const lines = source.split("\n");
  let last = 0;
  chunks.forEach((c, i) => {
    expect(c.index).toBe(i);
    expect(c.startLine).toBeGreaterThan(last);
    expect(c.text).toBe(lines.slice(c.startLine - 1, c.endLine).join("\n"));
    last = c.endLine;
  });
  const kept = chunks.flatMap((c) => c.text.split("\n")).filter((l) => l.trim() !== "");
  expect(kept).toEqual(lines.filter((l) => l.trim() !== ""));
}

const method = (name: string) =>
  `  /** ${name} explains itself at some length so the class grows. */\n  ${name}(input: string): string {\n${Array.from({ length: 8 }, (_, i) => `    const step${i} = input.repeat(${i}) + "${name}";`).join("\n")}\n    return input;\n  }`;

const TS = `import { readFileSync } from "node:fs";
import { join } from "node:path";

/** Opens the SQLite database and creates the kems table when missing. */
export function openDatabase(path: string): Database {
  const db = new Database(path);
  db.run("CREATE TABLE IF NOT EXISTS kems (id TEXT PRIMARY KEY)");
  return db;
}

export class LockManager {
${method("acquire")}

${method("release")}

${method("renew")}
}

export const DEFAULT_TTL = 30_000;
`;

describe("code chunker", () => {
  test("TypeScript: one chunk per definition with its doc comment; an oversize class splits into methods", async () => {
    const chunks = await chunkCode(TS, LANGUAGES.typescript!, { maxChars: 600 });
    expectFaithful(TS, chunks);
    const open = chunks.find((c) => c.symbol === "openDatabase")!;
    expect(open.text).toContain("/** Opens the SQLite database");
    expect(open.text).toContain('db.run("CREATE TABLE');
    expect(open.endLine).toBe(9);
    const symbols = chunks.map((c) => c.symbol);
    expect(symbols).toContain("LockManager.release");
    expect(symbols).toContain("LockManager.acquire");
    const release = chunks.find((c) => c.symbol === "LockManager.release")!;
    expect(release.text).toContain("release(input: string)");
    expect(release.text).not.toContain("acquire(input");
  });

  test("Python, Go, Rust and Markdown definitions carry their symbol names", async () => {
    const py = `import os\n\n@cached\ndef load(path):\n    return open(path).read()\n\n\nclass Store:\n    def get(self, key):\n        return self.data[key]\n`;
    const go = `package store\n\n// Get returns a value.\nfunc (s *Store) Get(key string) string {\n\treturn s.m[key]\n}\n\ntype Store struct {\n\tm map[string]string\n}\n`;
    const rs = `use std::fs;\n\nimpl Store {\n    fn get(&self) -> u32 { 1 }\n}\n\npub fn release(lock: Lock) {\n    drop(lock);\n}\n`;
    const md = `# Guide\n\nIntro text.\n\n## Install\n\nRun npm install.\n\n## Usage\n\nRun it.\n`;
    // Small definitions share a chunk and are named together ("load, Store").
    const names = async (src: string, lang: string, maxChars: number) =>
      (await chunkCode(src, LANGUAGES[lang]!, { maxChars })).flatMap((c) => c.symbol?.split(", ") ?? []);
    expect(await names(py, "python", 100)).toEqual(expect.arrayContaining(["load", "Store"]));
    expect(await names(py, "python", 40)).toContain("Store.get"); // over budget: split into methods
    expect(await names(go, "go", 100)).toEqual(expect.arrayContaining(["Store.Get", "Store"]));
    expect(await names(rs, "rust", 100)).toEqual(expect.arrayContaining(["Store", "release"]));
    const mdChunks = await chunkCode(md, LANGUAGES.markdown!, { maxChars: 30 });
    expectFaithful(md, mdChunks);
    expect(mdChunks.map((c) => c.symbol)).toEqual(expect.arrayContaining(["Guide > Install", "Guide > Usage"]));
  });

  test("broken syntax still chunks every line; blank text gives no chunks", async () => {
    const broken = `export function ok() { return 1; }\n\nfunction broken( {\n  let x = ;\n}\n\nexport const after = 2;\n`;
    expectFaithful(broken, await chunkCode(broken, LANGUAGES.typescript!, { maxChars: 40 }));
    expect(await chunkCode("  \n\n", LANGUAGES.typescript!)).toEqual([]);
  });

  test("language comes from the path first, then the MIME type; other text falls back to line windows", async () => {
    expect(detectLanguage("a/b.tsx", "text/plain")?.id).toBe("tsx");
    expect(detectLanguage("", "text/x-python; charset=utf-8")?.id).toBe("python");
    expect(detectLanguage("notes.txt", "text/plain")).toBeUndefined();
    const json = await chunkDocument(`{\n  "a": 1\n}\n`, {
      sourcePath: "config/app.json",
      contentType: "application/json",
    });
    expect(json).toMatchObject({ language: "json", syntaxAware: false });
    expect(json.chunks[0]).toMatchObject({ startLine: 1, endLine: 3 });
    const ts = await chunkDocument(TS, { sourcePath: "src/db.ts", contentType: "text/x-typescript" });
    expect(ts).toMatchObject({ language: "typescript", syntaxAware: true });
  });
});
