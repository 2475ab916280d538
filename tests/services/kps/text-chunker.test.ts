import { describe, expect, test } from "bun:test";
import { chunkText } from "../../../services/kps/chunking/text-chunker.ts";

function linesOf(text: string, start: number, end: number): string {
  return text
    .split("\n")
    .slice(start - 1, end)
    .join("\n");
}

describe("text chunker", () => {
  test("short text is one chunk covering every line", () => {
    const chunks = chunkText("alpha\nbeta\n\ngamma");
    expect(chunks).toEqual([{ index: 0, text: "alpha\nbeta\n\ngamma", startLine: 1, endLine: 4 }]);
  });

  test("paragraphs are packed up to the budget and line ranges point at the source", () => {
    const paras = Array.from({ length: 12 }, (_, i) => `paragraph ${i} ${"word ".repeat(12).trim()}`);
    const text = paras.join("\n\n");
    const chunks = chunkText(text, { maxChars: 200 });
    expect(chunks.length).toBeGreaterThan(1);
    chunks.forEach((c, i) => {
      expect(c.index).toBe(i);
      expect(c.text.length).toBeLessThanOrEqual(200);
      // Each chunk's text equals the source lines it claims (blank separators kept single).
      expect(c.text).toBe(linesOf(text, c.startLine, c.endLine));
    });
    // Nothing lost: every paragraph appears in exactly one chunk.
    for (const p of paras) expect(chunks.filter((c) => c.text.includes(p)).length).toBe(1);
  });

  test("an oversize paragraph splits on lines, an oversize line splits hard", () => {
    const longLine = "x".repeat(130);
    const text = ["one", "two", longLine, "three"].join("\n");
    const chunks = chunkText(text, { maxChars: 50 });
    expect(chunks.every((c) => c.text.length <= 50)).toBe(true);
    expect(chunks.map((c) => [c.text, c.startLine, c.endLine])).toEqual([
      ["one\ntwo", 1, 2],
      ["x".repeat(50), 3, 3],
      ["x".repeat(50), 3, 3],
      [`${"x".repeat(30)}\nthree`, 3, 4],
    ]);
  });

  test("blank text gives no chunks; CRLF line endings count lines right", () => {
    expect(chunkText("  \n\n\t\n")).toEqual([]);
    const chunks = chunkText("a\r\nb\r\n\r\nc", { maxChars: 16 });
    expect(chunks.map((c) => [c.startLine, c.endLine])).toEqual([[1, 4]]);
    const split = chunkText(`${"a".repeat(10)}\r\n\r\n${"b".repeat(10)}`, { maxChars: 16 });
    expect(split.map((c) => [c.text, c.startLine, c.endLine])).toEqual([
      ["a".repeat(10), 1, 1],
      ["b".repeat(10), 3, 3],
    ]);
  });
});
