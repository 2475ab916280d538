/**
 * Compares FTS5 tokenizers for GLM's lexical index (`bun bench/tune-tokenizer.ts`): `unicode61`,
 * `porter unicode61` and `trigram`, on prose (the LoCoMo dev split: recall@10 and hit@10 per its
 * protocol) and on code (this repository's TypeScript: each exported declaration with its comments
 * removed is a document, the first sentence of its TSDoc the query; hit@10 and MRR). Documents
 * and queries go through `lexical-text.ts` exactly as in GLM. How `FTS_TOKENIZER` was chosen
 * (docs/search.md "Tokenizer").
 * @module
 */
import { Database } from "bun:sqlite";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { lexicalBodyOf, queryWords, STOPWORDS, toMatchExpression } from "../services/glm/lexical/lexical-text.ts";
import { loadLocomo, locomoDir, scoreRetrieval } from "./lib/locomo.ts";

const TOKENIZERS = [
  "unicode61 remove_diacritics 2",
  "porter unicode61 remove_diacritics 2",
  "trigram",
  "porter unicode61 remove_diacritics 2 (no identifier split)",
];
const enc = new TextEncoder();

/** A corpus: documents (id, group, text) and queries (text, group, relevant ids). */
interface Corpus {
  docs: { id: string; group: string; text: string }[];
  queries: { text: string; group: string; relevant: string[] }[];
}

function rank(tokenizer: string, corpus: Corpus, k: number, splitIdentifiers = true): string[][] {
  const db = new Database(":memory:");
  db.exec(`CREATE VIRTUAL TABLE f USING fts5(body, grp UNINDEXED, tokenize='${tokenizer}')`);
  const ins = db.query("INSERT INTO f (rowid, body, grp) VALUES (?, ?, ?)");
  for (const [i, d] of corpus.docs.entries())
    ins.run(i + 1, splitIdentifiers ? lexicalBodyOf("text/plain", enc.encode(d.text))! : d.text, d.group);
  const search = db.query<{ rowid: number }, [string, string, number]>(
    "SELECT rowid FROM f WHERE f MATCH ? AND grp = ? ORDER BY rank LIMIT ?",
  );
  return corpus.queries.map((q) => {
    // trigram matches substrings of 3+ characters: quote each word (shorter words cannot match).
    const expr =
      tokenizer === "trigram"
        ? [...new Set(queryWords(q.text).filter((w) => w.length >= 3 && !STOPWORDS.has(w)))]
            .map((w) => `"${w}"`)
            .join(" OR ")
        : toMatchExpression(q.text);
    if (!expr) return [];
    return search.all(`body : (${expr})`, q.group, k).map((r) => corpus.docs[r.rowid - 1]!.id);
  });
}

function codeCorpus(root: string): Corpus {
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      if (name === "node_modules" || name === "gen" || name.startsWith(".")) continue;
      if (statSync(p).isDirectory()) walk(p);
      else if (p.endsWith(".ts")) files.push(p);
    }
  };
  for (const d of ["services", "runtime", "sdk", "bench"]) walk(join(root, d));
  const corpus: Corpus = { docs: [], queries: [] };
  for (const file of files) {
    const src = readFileSync(file, "utf8");
    const re =
      /\/\*\*([\s\S]*?)\*\/\s*\n(export (?:async )?(?:function|class|const|interface|type) (\w+)[\s\S]*?)(?=\n\/\*\*|\nexport |$)/g;
    for (const m of src.matchAll(re)) {
      const doc = m[1]!
        .replace(/^\s*\* ?/gm, " ")
        .replace(/\s+/g, " ")
        .trim();
      const first = doc.split(/(?<=\.)\s/)[0]!.replace(/\{@link (\w+)\}/g, "$1");
      const code = m[2]!.replace(/\/\*[\s\S]*?\*\//g, "").replace(/\/\/.*$/gm, "");
      if (first.length < 20 || m[3]!.length < 3) continue;
      const id = `${file}#${m[3]}`;
      corpus.docs.push({ id, group: "code", text: code });
      corpus.queries.push({ text: first, group: "code", relevant: [id] });
    }
  }
  return corpus;
}

const split = loadLocomo(locomoDir());
const prose: Corpus | undefined = split && {
  docs: split.turns.map((t) => ({ id: t.diaId, group: t.conversation, text: t.text })),
  queries: split.questions.map((q) => ({ text: q.question, group: q.conversation, relevant: q.evidence })),
};
const code = codeCorpus(resolve(import.meta.dir, ".."));
console.log(
  `prose: ${prose ? `${prose.docs.length} turns, ${prose.queries.length} questions` : "SKIPPED (no LoCoMo data)"}; code: ${code.docs.length} declarations`,
);
for (const label of TOKENIZERS) {
  const tok = label.replace(" (no identifier split)", "");
  const splitIds = label === tok;
  const parts = [label.padEnd(60)];
  if (prose && split) {
    const s = scoreRetrieval(split.questions, rank(tok, prose, 10, splitIds));
    parts.push(`prose r@10 ${s.recallAt10.toFixed(4)} hit@10 ${s.hitAt10.toFixed(4)}`);
  }
  const ranked = rank(tok, code, 10, splitIds);
  let hit = 0;
  let mrr = 0;
  code.queries.forEach((q, i) => {
    const at = ranked[i]!.indexOf(q.relevant[0]!);
    if (at >= 0) {
      hit++;
      mrr += 1 / (at + 1);
    }
  });
  parts.push(`code hit@10 ${(hit / code.queries.length).toFixed(4)} MRR ${(mrr / code.queries.length).toFixed(4)}`);
  console.log(parts.join("  |  "));
}
