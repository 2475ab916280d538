/**
 * Languages the code chunker parses with tree-sitter (README "Code search with DCSM itself"): how a file is
 * recognised (extension, MIME type), which WASM grammar parses it, and which syntax nodes are
 * definitions with a symbol name. Grammars: `@vscode/tree-sitter-wasm` (TypeScript, TSX,
 * JavaScript, Python, Go, Rust) and tree-sitter-markdown v0.5.3 vendored in `grammars/` (see its
 * PROVENANCE.md; no maintained npm package ships it as WASM).
 * @module
 */
import { createRequire } from "node:module";
import { dirname, extname, join } from "node:path";
import type { Node } from "web-tree-sitter";

/** A language the chunker knows. */
export interface CodeLanguage {
  /** Name stored in chunk metadata (`language`), e.g. "typescript". */
  id: string;
  /** Absolute path of the WASM grammar. */
  wasm: string;
  /** Symbol name of a definition node, or undefined when the node is not a definition. */
  nameOf(node: Node): string | undefined;
  /** The node whose named children are the parts of a large definition, or undefined. */
  bodyOf(node: Node): Node | undefined;
}

const require = createRequire(import.meta.url);
const VSCODE_WASM = dirname(require.resolve("@vscode/tree-sitter-wasm/package.json"));
const grammar = (name: string) => join(VSCODE_WASM, "wasm", `tree-sitter-${name}.wasm`);

const field = (n: Node, f: string) => n.childForFieldName(f) ?? undefined;
const text = (n: Node | undefined) => n?.text.replace(/\s+/g, " ").trim() || undefined;

/** Unwraps `export …`, `@decorator …` and similar wrappers to the declaration inside. */
function unwrap(n: Node): Node {
  if (n.type === "export_statement" || n.type === "ambient_declaration")
    return field(n, "declaration") ?? n.namedChildren.find((c) => c?.type.endsWith("declaration")) ?? n;
  if (n.type === "decorated_definition") return field(n, "definition") ?? n;
  return n;
}

const JS_DEFS = new Set([
  "function_declaration",
  "generator_function_declaration",
  "class_declaration",
  "abstract_class_declaration",
  "interface_declaration",
  "type_alias_declaration",
  "enum_declaration",
  "method_definition",
  "public_field_definition",
  "module",
  "internal_module",
  "function_signature",
]);

function jsName(node: Node): string | undefined {
  const n = unwrap(node);
  if (JS_DEFS.has(n.type)) return text(field(n, "name"));
  if (n.type === "lexical_declaration" || n.type === "variable_declaration") {
    const names = n.namedChildren.filter((c) => c?.type === "variable_declarator").map((c) => text(field(c!, "name")));
    return names.filter(Boolean).join(", ") || undefined;
  }
  if (n.type === "expression_statement" && n.firstNamedChild?.type === "assignment_expression")
    return text(field(n.firstNamedChild, "left"));
  return undefined;
}

const bodyField = (node: Node) => field(unwrap(node), "body");

const PY_DEFS = new Set(["function_definition", "class_definition"]);
const GO_DEFS = new Set(["function_declaration", "method_declaration"]);
const RUST_DEFS = new Set([
  "function_item",
  "struct_item",
  "enum_item",
  "trait_item",
  "mod_item",
  "const_item",
  "static_item",
  "type_item",
  "union_item",
  "macro_definition",
  "function_signature_item",
]);

function goName(n: Node): string | undefined {
  if (GO_DEFS.has(n.type)) {
    const recv = field(n, "receiver");
    const type = recv?.descendantsOfType("type_identifier")[0]?.text;
    return [type, text(field(n, "name"))].filter(Boolean).join(".") || undefined;
  }
  if (n.type === "type_declaration" || n.type === "const_declaration" || n.type === "var_declaration") {
    return (
      n.namedChildren
        .map((c) => text(c ? field(c, "name") : undefined))
        .filter(Boolean)
        .join(", ") || undefined
    );
  }
  return undefined;
}

function rustName(n: Node): string | undefined {
  if (RUST_DEFS.has(n.type)) return text(field(n, "name"));
  if (n.type === "impl_item") {
    const trait = text(field(n, "trait"));
    const type = text(field(n, "type"));
    return trait ? `${trait} for ${type}` : type;
  }
  return undefined;
}

function markdownHeading(n: Node): string | undefined {
  if (n.type !== "section") return undefined;
  const h = n.namedChildren.find((c) => c?.type === "atx_heading" || c?.type === "setext_heading");
  return text(h?.namedChildren.find((c) => c?.type === "inline" || c?.type === "paragraph") ?? undefined);
}

const js = (id: string, wasm: string): CodeLanguage => ({ id, wasm: grammar(wasm), nameOf: jsName, bodyOf: bodyField });

/** The languages by id. */
export const LANGUAGES: Record<string, CodeLanguage> = {
  typescript: js("typescript", "typescript"),
  tsx: js("tsx", "tsx"),
  javascript: js("javascript", "javascript"),
  python: {
    id: "python",
    wasm: grammar("python"),
    nameOf: (n) => (PY_DEFS.has(unwrap(n).type) ? text(field(unwrap(n), "name")) : undefined),
    bodyOf: bodyField,
  },
  go: { id: "go", wasm: grammar("go"), nameOf: goName, bodyOf: (n) => field(n, "body") },
  rust: { id: "rust", wasm: grammar("rust"), nameOf: rustName, bodyOf: (n) => field(n, "body") },
  markdown: {
    id: "markdown",
    wasm: join(import.meta.dir, "grammars", "tree-sitter-markdown.wasm"),
    nameOf: markdownHeading,
    bodyOf: (n) => (n.type === "section" ? n : undefined),
  },
};

const BY_EXTENSION: Record<string, string> = {
  ".ts": "typescript",
  ".mts": "typescript",
  ".cts": "typescript",
  ".tsx": "tsx",
  ".js": "javascript",
  ".mjs": "javascript",
  ".cjs": "javascript",
  ".jsx": "javascript",
  ".py": "python",
  ".pyi": "python",
  ".go": "go",
  ".rs": "rust",
  ".md": "markdown",
  ".markdown": "markdown",
};

const BY_CONTENT_TYPE: Record<string, string> = {
  "text/x-typescript": "typescript",
  "application/typescript": "typescript",
  "text/typescript": "typescript",
  "text/javascript": "javascript",
  "application/javascript": "javascript",
  "text/x-python": "python",
  "text/x-go": "go",
  "text/x-rust": "rust",
  "text/markdown": "markdown",
};

/**
 * The language of a document: by `sourcePath` extension first (it tells .tsx from .ts), then by
 * MIME type (parameters ignored). Undefined when neither is known: such text is line-chunked.
 */
export function detectLanguage(sourcePath: string, contentType: string): CodeLanguage | undefined {
  const byExt = BY_EXTENSION[extname(sourcePath).toLowerCase()];
  const byType = BY_CONTENT_TYPE[contentType.split(";")[0]!.trim().toLowerCase()];
  const id = byExt ?? byType;
  return id ? LANGUAGES[id] : undefined;
}
