/**
 * Language-aware chunking on syntax boundaries (README "Code search with DCSM itself"): parses source with
 * tree-sitter (`web-tree-sitter`, WASM grammars from {@link LANGUAGES}) and makes one chunk per
 * definition (function, class, method, type, Markdown section) with its leading comments, small
 * neighbouring statements packed together, and definitions over budget split into their members
 * (`Class.method`, `Section > Subsection`), down to line windows as the last resort. Every line of
 * the document lands in exactly one chunk (blank edges trimmed); line numbers are 1-based.
 * @module
 */
import { Language, type Node, Parser } from "web-tree-sitter";
import type { CodeLanguage } from "./languages.ts";
import { chunkText, type TextChunk } from "./text-chunker.ts";

/** A chunk of source code. */
export interface CodeChunk extends TextChunk {
  /** Qualified name of the definition the chunk holds or belongs to, e.g. "SqliteStore.open"; undefined for top-level glue (imports). */
  symbol?: string;
}

/** Options of {@link chunkCode}. */
export interface ChunkCodeOptions {
  /** Most characters per chunk (a definition over it is split into its members). @default 600 */
  maxChars?: number;
}

interface Unit {
  start: number;
  end: number;
  node?: Node;
  symbol?: string;
  def: boolean;
  /** Definitions packed into this unit (small ones share a chunk). */
  names?: string[];
}

let ready: Promise<Parser> | undefined;
const languages = new Map<string, Promise<Language>>();

async function parserFor(lang: CodeLanguage): Promise<Parser> {
  ready ??= Parser.init().then(() => new Parser());
  const parser = await ready;
  let loaded = languages.get(lang.wasm);
  if (!loaded) {
    loaded = Language.load(lang.wasm);
    languages.set(lang.wasm, loaded);
    loaded.catch(() => languages.delete(lang.wasm));
  }
  parser.setLanguage(await loaded);
  return parser;
}

/** Last line a node covers (a node ending at column 0 ends on the line before). */
const endRow = (n: Node) =>
  n.endPosition.column === 0 && n.endPosition.row > n.startPosition.row ? n.endPosition.row - 1 : n.endPosition.row;

/**
 * Chunks source code.
 * @param text - the document.
 * @param lang - its language.
 * @param options - character budget.
 * @returns chunks in document order with consecutive indexes; empty for blank text.
 * @throws when the grammar cannot be loaded (callers fall back to {@link chunkText}).
 */
export async function chunkCode(
  text: string,
  lang: CodeLanguage,
  options: ChunkCodeOptions = {},
): Promise<CodeChunk[]> {
  const maxChars = Math.max(16, options.maxChars ?? 600);
  const source = text.replace(/\r\n?/g, "\n");
  const lines = source.split("\n");
  const sep = lang.id === "markdown" ? " > " : ".";
  const qualify = (parent: string | undefined, name: string) => (parent ? `${parent}${sep}${name}` : name);
  const size = (s: number, e: number) => {
    let n = e - s;
    for (let i = s; i <= e; i++) n += lines[i]!.length;
    return n;
  };
  const out: CodeChunk[] = [];

  const emit = (s: number, e: number, symbol: string | undefined) => {
    while (s <= e && lines[s]!.trim() === "") s++;
    while (e >= s && lines[e]!.trim() === "") e--;
    if (s > e) return;
    if (size(s, e) > maxChars) return lineChunks(s, e, symbol);
    out.push({
      index: out.length,
      text: lines.slice(s, e + 1).join("\n"),
      startLine: s + 1,
      endLine: e + 1,
      ...(symbol ? { symbol } : {}),
    });
  };

  const lineChunks = (s: number, e: number, symbol: string | undefined) => {
    for (const c of chunkText(lines.slice(s, e + 1).join("\n"), { maxChars })) {
      out.push({
        index: out.length,
        text: c.text,
        startLine: c.startLine + s,
        endLine: c.endLine + s,
        ...(symbol ? { symbol } : {}),
      });
    }
  };

  const unitsIn = (container: Node, from: number, to: number, parent: string | undefined): Unit[] => {
    const units: Unit[] = [];
    for (const c of container.namedChildren) {
      if (!c) continue;
      const s = Math.max(from, c.startPosition.row);
      const e = Math.min(to, endRow(c));
      if (e < from || s > to || e < s) continue;
      // Inside a definition, local variables are statements, not definitions of their own.
      const name = parent !== undefined && /^(lexical|variable)_declaration$/.test(c.type) ? undefined : lang.nameOf(c);
      const unit: Unit = {
        start: s,
        end: e,
        node: c,
        symbol: name ? qualify(parent, name) : parent,
        def: name !== undefined,
      };
      const prev = units.at(-1);
      if (prev && s <= prev.end) {
        // Two nodes share a line: one unit.
        prev.end = Math.max(prev.end, e);
        prev.def ||= unit.def;
        prev.symbol = prev.def && !name ? prev.symbol : unit.def ? unit.symbol : prev.symbol;
        prev.node = undefined;
        continue;
      }
      // Comments right above a definition belong to it (TSDoc, docstrings above, `//` notes).
      if (unit.def && prev && !prev.def && prev.node?.type.includes("comment") && prev.end >= s - 1) {
        units[units.length - 1] = { ...unit, start: prev.start };
        continue;
      }
      units.push(unit);
    }
    // Tile the range: gaps (closing braces, blank lines) go to the unit before them.
    units.forEach((u, i) => {
      if (i === 0) u.start = from;
      u.end = i + 1 < units.length ? units[i + 1]!.start - 1 : to;
    });
    return units;
  };

  const chunkRange = (container: Node, from: number, to: number, parent: string | undefined, depth: number) => {
    const units = depth > 40 ? [] : unitsIn(container, from, to, parent);
    if (units.length === 0) return lineChunks(from, to, parent);
    let pending: Unit | undefined;
    const flush = () => {
      if (pending)
        emit(pending.start, pending.end, pending.names?.length ? pending.names.slice(0, 4).join(", ") : pending.symbol);
      pending = undefined;
    };
    for (const u of units) {
      const n = size(u.start, u.end);
      const names = u.def && u.symbol ? [u.symbol] : [];
      if (n <= maxChars / 2 || (!u.def && n <= maxChars)) {
        // Small: pack with its neighbours (small definitions share a chunk, named together), but a
        // definition does not join a run of glue (imports, statements) before it.
        if (pending && size(pending.start, u.end) <= maxChars && !(u.def && !pending.names?.length)) {
          pending.end = u.end;
          pending.names = [...(pending.names ?? []), ...names];
        } else {
          flush();
          pending = { ...u, names };
        }
        continue;
      }
      // A tiny lead-in (a heading, a lone comment) stays with what follows instead of standing alone.
      let start = u.start;
      if (pending && size(pending.start, pending.end) < maxChars / 8 && !pending.names?.length) {
        start = pending.start;
        pending = undefined;
      }
      flush();
      const body = u.def && u.node ? lang.bodyOf(u.node) : u.node;
      if (n <= maxChars || !body) emit(start, u.end, u.symbol);
      else chunkRange(body, start, u.end, u.symbol, depth + 1);
    }
    flush();
  };

  if (source.trim() === "") return [];
  const parser = await parserFor(lang);
  const tree = parser.parse(source);
  if (!tree) return chunkText(source, { maxChars });
  try {
    chunkRange(tree.rootNode, 0, lines.length - 1, undefined, 0);
  } finally {
    tree.delete(); // trees live in WASM memory: free them or memory grows per file
  }
  // Fold tiny pieces (a lone heading, a closing fence) into a neighbour when the budget allows.
  const merged: CodeChunk[] = [];
  for (const c of out) {
    const prev = merged.at(-1);
    const tiny = Math.min(c.text.length, prev?.text.length ?? Infinity) < maxChars / 8;
    if (prev && tiny && prev.endLine < c.startLine && size(prev.startLine - 1, c.endLine - 1) <= maxChars) {
      const symbol = prev.text.length >= c.text.length ? prev.symbol : c.symbol;
      merged[merged.length - 1] = {
        index: 0,
        text: lines.slice(prev.startLine - 1, c.endLine).join("\n"),
        startLine: prev.startLine,
        endLine: c.endLine,
        ...(symbol ? { symbol } : {}),
      };
    } else merged.push(c);
  }
  return merged.map((c, index) => ({ ...c, index }));
}
