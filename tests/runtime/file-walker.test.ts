import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { contentTypeOf, walkIngestFiles } from "../../runtime/cli/file-walker.ts";
import { removeTempDirs, tempDir } from "../helpers/temp-dir.ts";

afterAll(removeTempDirs);

describe("ingest file walker", () => {
  test("honours .gitignore and built-in ignores, skips binary, empty and large files", () => {
    const root = tempDir();
    mkdirSync(join(root, "src/deep"), { recursive: true });
    mkdirSync(join(root, "node_modules/pkg"), { recursive: true });
    mkdirSync(join(root, "build"), { recursive: true });
    writeFileSync(join(root, ".gitignore"), "build/\n*.secret\n");
    writeFileSync(join(root, "src/deep/.gitignore"), "local.txt\n");
    writeFileSync(join(root, "README.md"), "# hi\n");
    writeFileSync(join(root, "src/a.ts"), "export const a = 1;\n");
    writeFileSync(join(root, "src/deep/b.py"), "print('b')\n");
    writeFileSync(join(root, "src/deep/local.txt"), "ignored by nested gitignore\n");
    writeFileSync(join(root, "key.secret"), "s3cret\n");
    writeFileSync(join(root, "build/out.js"), "ignored\n");
    writeFileSync(join(root, "node_modules/pkg/index.js"), "ignored\n");
    writeFileSync(join(root, "image.png"), new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0, 0, 1, 2]));
    writeFileSync(join(root, "latin1.txt"), new Uint8Array([0x63, 0x61, 0x66, 0xe9]));
    writeFileSync(join(root, "empty.txt"), "");
    writeFileSync(join(root, "big.txt"), "x".repeat(2000));
    const skipped: Record<string, string> = {};
    const files = walkIngestFiles([root], {
      maxFileBytes: 1000,
      onSkip: (p, r) => {
        skipped[p.slice(root.length + 1)] = r;
      },
    });
    expect(files.map((f) => f.sourcePath)).toEqual([
      ".gitignore",
      "README.md",
      "src/a.ts",
      "src/deep/.gitignore",
      "src/deep/b.py",
    ]);
    expect(skipped).toMatchObject({
      "image.png": "binary",
      "latin1.txt": "binary",
      "empty.txt": "empty",
      "big.txt": "too-large",
      "key.secret": "ignored",
    });
    expect(files.find((f) => f.sourcePath === "src/a.ts")!.contentType).toBe("text/x-typescript");
  });

  test("content types by extension", () => {
    expect(contentTypeOf("a/b.md")).toBe("text/markdown");
    expect(contentTypeOf("x.PY")).toBe("text/x-python");
    expect(contentTypeOf("Makefile")).toBe("text/plain");
  });
});
