/**
 * Builds the single `dcsm` executable with `bun build --compile` (Bun.build API):
 *
 *   bun scripts/build-binary.ts [--outfile dist/dcsm]
 *
 * What goes in: the CLI (`runtime/cli/main.ts`), the web console (HTML import, bundled by Bun),
 * the HNSW graph worker and the lexical search worker (extra entry points, so
 * `new Worker(new URL("./hnsw-graph-worker.ts", …))` resolves inside the executable), the native addons of onnxruntime-node (with
 * `libonnxruntime.so.1`) and usearch, and the bundled model (all-MiniLM-L6-v2, q8 weights).
 * Native files cannot be loaded from the executable's embedded file system, so the loaders of
 * both addons (and of the tree-sitter WASM files) are rewritten to load them from a cache folder
 * the executable fills on first start (runtime/binary/prepare-assets.ts, `nativeDir()`). `sharp` (images; unused by DCSM) is replaced by
 * a stub that throws. Targets linux-x64 and linux-arm64 (the platform this runs on).
 * @module
 */
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { parseArgs } from "node:util";
import type { BunPlugin } from "bun";

const ROOT = resolve(import.meta.dir, "..");
const NM = join(ROOT, "node_modules");
const MODEL = "all-MiniLM-L6-v2";
/** Model files the default configuration (q8) reads. */
const MODEL_FILES = [
  "config.json",
  "tokenizer.json",
  "tokenizer_config.json",
  "special_tokens_map.json",
  "vocab.txt",
  "LICENSE",
  "PROVENANCE.md",
  "onnx/model_quantized.onnx",
];

/** Code grammars KPS's chunker loads (services/kps/chunking/languages.ts). */
const GRAMMARS = ["typescript", "tsx", "javascript", "python", "go", "rust"];

/** Native files (and WASM grammars) for this platform: name in DCSM_NATIVE_DIR → source path. */
function nativeFiles(): Record<string, string> {
  if (process.platform !== "linux" || (process.arch !== "x64" && process.arch !== "arm64")) {
    throw new Error(
      `build-binary: only linux-x64 and linux-arm64 are supported (this is ${process.platform}-${process.arch})`,
    );
  }
  const ort = join(NM, "onnxruntime-node", "bin", "napi-v6", "linux", process.arch);
  const grammars = Object.fromEntries(
    GRAMMARS.map((g) => [
      `tree-sitter-wasm/wasm/tree-sitter-${g}.wasm`,
      join(NM, "@vscode", "tree-sitter-wasm", "wasm", `tree-sitter-${g}.wasm`),
    ]),
  );
  return {
    "libonnxruntime.so.1": join(ort, "libonnxruntime.so.1"),
    "onnxruntime_binding.node": join(ort, "onnxruntime_binding.node"),
    "usearch.node": join(NM, "usearch", "prebuilds", `linux-${process.arch}`, "usearch.node"),
    "web-tree-sitter.wasm": join(NM, "web-tree-sitter", "web-tree-sitter.wasm"),
    "tree-sitter-markdown.wasm": join(ROOT, "services", "kps", "chunking", "grammars", "tree-sitter-markdown.wasm"),
    ...grammars,
  };
}

/** Expression giving the unpacked native folder in any thread of the executable. */
const NATIVE_DIR = `require(${JSON.stringify(join(ROOT, "runtime", "binary", "prepare-assets.ts"))}).nativeDir()`;

/** Rewrites that make dependencies work inside the executable (each must match, or the build fails). */
const REWRITES: { file: RegExp; from: string | RegExp; to: string }[] = [
  // transformers.js loads onnxruntime-node through createRequire, which the bundler cannot follow.
  {
    file: /@huggingface[\\/]transformers[\\/]dist[\\/]transformers\.node\.mjs$/,
    from: 'requireFromHere("onnxruntime-node")',
    to: 'require("onnxruntime-node")',
  },
  {
    file: /onnxruntime-node[\\/]dist[\\/]binding\.js$/,
    from: /require\(`\.\.\/bin\/napi-v6\/\$\{process\.platform\}\/\$\{process\.arch\}\/onnxruntime_binding\.node`\)/,
    to: `require(${NATIVE_DIR} + "/onnxruntime_binding.node")`,
  },
  // tree-sitter: the runtime's WASM and the grammars are read from files, located relative to modules.
  {
    file: /web-tree-sitter[\\/]web-tree-sitter\.js$/,
    from: 'new URL("web-tree-sitter.wasm", import.meta.url).href',
    to: `(${NATIVE_DIR} + "/web-tree-sitter.wasm")`,
  },
  {
    file: /services[\\/]kps[\\/]chunking[\\/]languages\.ts$/,
    from: 'dirname(require.resolve("@vscode/tree-sitter-wasm/package.json"))',
    to: `(${NATIVE_DIR} + "/tree-sitter-wasm")`,
  },
  {
    file: /services[\\/]kps[\\/]chunking[\\/]languages\.ts$/,
    from: 'join(import.meta.dir, "grammars", "tree-sitter-markdown.wasm")',
    to: `join(${NATIVE_DIR}, "tree-sitter-markdown.wasm")`,
  },
  // The HNSW graph worker is an extra entry point; inside the executable it lives at its path
  // relative to the entry points' common folder (the repository root), not beside the bundle.
  {
    file: /services[\\/]glm[\\/]vector[\\/]hnsw-index\.ts$/,
    from: 'new URL("./hnsw-graph-worker.ts", import.meta.url).href',
    to: '"./services/glm/vector/hnsw-graph-worker.ts"',
  },
  {
    file: /services[\\/]glm[\\/]store[\\/]sqlite-lexical-thread\.ts$/,
    from: 'new URL("./sqlite-lexical-worker.ts", import.meta.url).href',
    to: '"./services/glm/store/sqlite-lexical-worker.ts"',
  },
  {
    file: /usearch[\\/]javascript[\\/]dist[\\/](esm|cjs)[\\/]usearch\.js$/,
    from: "build(getBuildDir(getDirName()))",
    to: `require(${NATIVE_DIR} + "/usearch.node")`,
  },
];

const plugin: BunPlugin = {
  name: "dcsm-binary",
  setup(build) {
    build.onResolve({ filter: /^sharp$/ }, () => ({ path: "sharp", namespace: "dcsm-stub" }));
    build.onLoad({ filter: /.*/, namespace: "dcsm-stub" }, () => ({
      contents:
        'export default function sharp() { throw new Error("image input (sharp) is not available in the dcsm executable"); }',
      loader: "js",
    }));
    const any = new RegExp(REWRITES.map((r) => r.file.source).join("|"));
    build.onLoad({ filter: any }, (args) => {
      let src = readFileSync(args.path, "utf8");
      for (const r of REWRITES.filter((x) => x.file.test(args.path))) {
        const out = src.replace(r.from, r.to);
        if (out === src)
          throw new Error(
            `build-binary: ${relative(ROOT, args.path)} changed; the rewrite of ${String(r.from)} no longer applies`,
          );
        src = out;
      }
      return { contents: src, loader: args.path.endsWith(".ts") ? "ts" : "js" };
    });
  },
};

/**
 * Builds the executable. @returns its path and build id.
 * @throws Error when bundling or compiling fails (with Bun's messages).
 */
export async function buildBinary(outfile: string): Promise<{ outfile: string; buildId: string }> {
  const native = nativeFiles();
  const models = Object.fromEntries(MODEL_FILES.map((f) => [`${MODEL}/${f}`, join(ROOT, "models", MODEL, f)]));
  const hash = createHash("sha256");
  // Named after the unpacked assets only, so a code change does not unpack 25 MB again.
  for (const p of [...Object.values(native), ...Object.values(models)]) hash.update(p).update(readFileSync(p));
  const buildId = hash.digest("hex").slice(0, 16);

  // The entry is generated: it imports every asset as an embedded file, unpacks them, then runs the CLI.
  const genDir = join(NM, ".cache", "dcsm-binary");
  mkdirSync(genDir, { recursive: true });
  const entry = join(genDir, "entry.ts");
  const imports: string[] = [];
  const table = (rec: Record<string, string>, prefix: string) =>
    Object.entries(rec).map(([rel, src], i) => {
      imports.push(`import ${prefix}${i} from ${JSON.stringify(src)} with { type: "file" };`);
      return `${JSON.stringify(rel)}: ${prefix}${i}`;
    });
  const nativeRows = table(native, "n");
  const modelRows = table(models, "m");
  writeFileSync(
    entry,
    `// Generated by scripts/build-binary.ts; do not edit.
import { prepareBinaryAssets } from ${JSON.stringify(join(ROOT, "runtime", "binary", "prepare-assets.ts"))};
${imports.join("\n")}
prepareBinaryAssets(${JSON.stringify(buildId)}, { native: { ${nativeRows.join(", ")} }, models: { ${modelRows.join(", ")} } });
await import(${JSON.stringify(join(ROOT, "runtime", "cli", "main.ts"))});
`,
  );
  mkdirSync(resolve(outfile, ".."), { recursive: true });
  const result = await Bun.build({
    entrypoints: [
      entry,
      join(ROOT, "services", "glm", "vector", "hnsw-graph-worker.ts"),
      join(ROOT, "services", "glm", "store", "sqlite-lexical-worker.ts"),
    ],
    compile: { outfile },
    target: "bun",
    minify: { syntax: true, whitespace: true },
    plugins: [plugin],
    define: { "process.env.DCSM_BINARY_BUILD": JSON.stringify(buildId) },
  });
  if (!result.success)
    throw new AggregateError(result.logs, `bun build --compile failed:\n${result.logs.map(String).join("\n")}`);
  return { outfile, buildId };
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { outfile: { type: "string", default: join(ROOT, "dist", "dcsm") } } });
  const t0 = performance.now();
  const { outfile, buildId } = await buildBinary(resolve(values.outfile!));
  process.stdout.write(
    `built ${outfile} (${(statSync(outfile).size / 1e6).toFixed(0)} MB, build ${buildId}) in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`,
  );
}
