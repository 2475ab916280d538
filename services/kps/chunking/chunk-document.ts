/**
 * Chooses how a document is chunked: source code and Markdown in a language tree-sitter
 * parses go through {@link chunkCode} (syntax boundaries, symbol names); everything else, and any
 * file whose grammar fails to load, through the line/paragraph {@link chunkText}. KPS calls this for
 * every `ProcessRawData`, so every client gets language-aware chunks.
 * @module
 */
import { extname } from "node:path";
import { type CodeChunk, chunkCode } from "./code-chunker.ts";
import { detectLanguage } from "./languages.ts";
import { chunkText } from "./text-chunker.ts";

/** A chunked document. */
export interface ChunkedDocument {
  /** Language stored as metadata `language`: a parser's id ("typescript", "markdown", …), else the file extension ("json", "yaml"), else "text". */
  language: string;
  /** True when the chunks follow syntax boundaries (a grammar parsed the text). */
  syntaxAware: boolean;
  /** The chunks, in order. */
  chunks: CodeChunk[];
}

/** Options of {@link chunkDocument}. */
export interface ChunkDocumentOptions {
  /** Path or URL of the document ("" when unknown); its extension picks the language. */
  sourcePath: string;
  /** MIME type; used when the path says nothing. */
  contentType: string;
  /** Most characters per chunk for prose and unknown text. @default 1200 */
  maxChars?: number;
  /** Most characters per chunk for parsed languages (code is denser in tokens: at 600, ~2% of this repo's chunks exceed the 256-token window, at 800 ~24%). @default 600 */
  maxCodeChars?: number;
}

/**
 * Chunks a document by its language.
 * @param text - the document.
 * @param options - where it came from and the budgets.
 */
export async function chunkDocument(text: string, options: ChunkDocumentOptions): Promise<ChunkedDocument> {
  const lang = detectLanguage(options.sourcePath, options.contentType);
  if (lang) {
    try {
      return {
        language: lang.id,
        syntaxAware: true,
        chunks: await chunkCode(text, lang, { maxChars: options.maxCodeChars ?? 600 }),
      };
    } catch {
      // Grammar missing or broken: line windows still index the file.
    }
  }
  const ext = extname(options.sourcePath).slice(1).toLowerCase();
  return {
    language: lang?.id ?? (/^[a-z0-9+_-]{1,16}$/.test(ext) ? ext : "text"),
    syntaxAware: false,
    chunks: chunkText(text, { maxChars: options.maxChars ?? 1200 }),
  };
}
