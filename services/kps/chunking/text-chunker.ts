/**
 * Splits text into chunks for embedding: paragraphs packed greedily up to a character budget,
 * overlong paragraphs split on lines, overlong lines split hard. Every chunk knows the 1-based
 * line range it came from, so a search hit can point at `path:start-end`.
 * @module
 */

/** One chunk of a document. */
export interface TextChunk {
  /** Position of the chunk in the document, from 0. */
  index: number;
  /** The chunk's text (original lines joined with "\n"). */
  text: string;
  /** First line of the chunk, 1-based. */
  startLine: number;
  /** Last line of the chunk, 1-based, inclusive. */
  endLine: number;
}

/** Options of {@link chunkText}. */
export interface ChunkTextOptions {
  /** Maximum characters per chunk (≥ 16). @default 1200 */
  maxChars?: number;
}

interface Piece {
  text: string;
  start: number;
  end: number;
}

/** Splits one paragraph (or line) that is over budget into pieces within budget. */
function splitOversize(lines: string[], firstLine: number, maxChars: number): Piece[] {
  const out: Piece[] = [];
  let buf: string[] = [];
  let bufStart = firstLine;
  let bufLen = 0;
  const flush = (endLine: number) => {
    if (buf.length > 0) out.push({ text: buf.join("\n"), start: bufStart, end: endLine });
    buf = [];
    bufLen = 0;
  };
  lines.forEach((line, i) => {
    const lineNo = firstLine + i;
    if (line.length > maxChars) {
      flush(lineNo - 1);
      for (let off = 0; off < line.length; off += maxChars)
        out.push({ text: line.slice(off, off + maxChars), start: lineNo, end: lineNo });
      bufStart = lineNo + 1;
      return;
    }
    const added = bufLen === 0 ? line.length : bufLen + 1 + line.length;
    if (added > maxChars) {
      flush(lineNo - 1);
      bufStart = lineNo;
    }
    if (buf.length === 0) bufStart = lineNo;
    buf.push(line);
    bufLen = bufLen === 0 ? line.length : bufLen + 1 + line.length;
  });
  flush(firstLine + lines.length - 1);
  return out;
}

/**
 * Chunks a text. Whitespace-only chunks are dropped; chunk indexes stay consecutive.
 * @param text - the document (any line endings).
 * @param options - character budget.
 * @returns the chunks in document order (empty for blank text).
 */
export function chunkText(text: string, options: ChunkTextOptions = {}): TextChunk[] {
  const maxChars = Math.max(16, options.maxChars ?? 1200);
  const lines = text.split(/\r\n|\r|\n/);
  // Paragraphs: runs of non-blank lines.
  const paragraphs: Piece[] = [];
  let start = -1;
  for (let i = 0; i <= lines.length; i++) {
    const blank = i === lines.length || lines[i]!.trim() === "";
    if (!blank && start < 0) start = i;
    if (blank && start >= 0) {
      const para = lines.slice(start, i);
      const joined = para.join("\n");
      if (joined.length <= maxChars) paragraphs.push({ text: joined, start: start + 1, end: i });
      else paragraphs.push(...splitOversize(para, start + 1, maxChars));
      start = -1;
    }
  }
  // Greedy packing of pieces; the separator restores the original line breaks between them
  // ("" within one hard-split line, one "\n" per line boundary, blank lines kept).
  const chunks: TextChunk[] = [];
  let cur: Piece | null = null;
  for (const p of paragraphs) {
    const sep: string = cur ? "\n".repeat(Math.max(0, p.start - cur.end)) : "";
    if (cur && cur.text.length + sep.length + p.text.length <= maxChars) {
      cur = { text: `${cur.text}${sep}${p.text}`, start: cur.start, end: p.end };
      continue;
    }
    if (cur) chunks.push({ index: chunks.length, text: cur.text, startLine: cur.start, endLine: cur.end });
    cur = p;
  }
  if (cur) chunks.push({ index: chunks.length, text: cur.text, startLine: cur.start, endLine: cur.end });
  return chunks.filter((c) => c.text.trim() !== "").map((c, index) => ({ ...c, index }));
}
