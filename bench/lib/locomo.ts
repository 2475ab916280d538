/**
 * Loader of the LoCoMo conversational-memory benchmark (Maharana et al., ACL 2024, "Evaluating
 * Very Long-Term Conversational Memory of LLM Agents") in its published JSON layout, and its
 * retrieval protocol: one memory per dialogue turn with the text
 * `[{session date}] {speaker}: {text}` (plus ` (shares a photo: {caption})`), each question
 * searched within its own conversation, recall@k / hit@k over the evidence turns of question
 * categories 1–4. The data is never shipped: the bench reads it from a folder given at run time.
 * @module
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";

/**
 * Where the LoCoMo dev split is read from: `DCSM_BENCH_LOCOMO_DIR`, else `datasets/locomo-dev` in
 * the evaluation-data folder the bench machines keep beside the checkout (the data set is not
 * shipped with DCSM). Cases that need it skip with a message when the folder is absent.
 */
export function locomoDir(): string {
  return (
    process.env.DCSM_BENCH_LOCOMO_DIR ?? resolve(import.meta.dir, "..", "..", "..", "shared", "datasets", "locomo-dev")
  );
}

/** One dialogue turn as a memory. */
export interface LocomoTurn {
  /** Conversation file stem, e.g. "conv-26". */
  conversation: string;
  /** Turn id within the conversation, e.g. "D1:3". */
  diaId: string;
  /** The memory text per the protocol. */
  text: string;
}

/** One evaluated question. */
export interface LocomoQuestion {
  conversation: string;
  question: string;
  /** 1 multi-hop, 2 temporal, 3 open-domain, 4 single-hop. */
  category: number;
  /** Normalised evidence turn ids. */
  evidence: string[];
}

/** A loaded split. */
export interface LocomoSplit {
  turns: LocomoTurn[];
  questions: LocomoQuestion[];
}

/**
 * Normalises an evidence reference: splits "D8:6; D9:17", repairs "D:11:26" and drops leading
 * zeros ("D30:05" → "D30:5").
 */
export function normaliseEvidence(raw: string): string[] {
  const out: string[] = [];
  for (const part of raw.split(/[;,\s]+/)) {
    const m = /^D:?(\d+):0*(\d+)$/.exec(part.trim());
    if (m) out.push(`D${Number(m[1])}:${Number(m[2])}`);
  }
  return out;
}

/**
 * Reads every `*.json` conversation of a LoCoMo folder.
 * @param dir - the folder (e.g. the dev split with conv-26, conv-30, conv-41).
 * @returns the turns and the questions of categories 1–4, or undefined when the folder is absent.
 */
export function loadLocomo(dir: string): LocomoSplit | undefined {
  if (!existsSync(dir)) return undefined;
  const turns: LocomoTurn[] = [];
  const questions: LocomoQuestion[] = [];
  for (const file of readdirSync(dir)
    .filter((f) => f.endsWith(".json"))
    .sort()) {
    const conversation = file.replace(/\.json$/, "");
    const doc = JSON.parse(readFileSync(join(dir, file), "utf8")) as Record<string, unknown>;
    for (let s = 1; ; s++) {
      const session = doc[`session_${s}`] as
        | { speaker: string; dia_id: string; text: string; blip_caption?: string }[]
        | undefined;
      const date = doc[`session_${s}_date_time`] as string | undefined;
      if (date === undefined) break;
      if (!Array.isArray(session)) continue;
      for (const t of session) {
        const caption = t.blip_caption ? ` (shares a photo: ${t.blip_caption})` : "";
        turns.push({
          conversation,
          diaId: normaliseEvidence(t.dia_id)[0] ?? t.dia_id,
          text: `[${date}] ${t.speaker}: ${t.text}${caption}`,
        });
      }
    }
    for (const qa of doc.qa as { question: string; category: number; evidence: string[] }[]) {
      if (qa.category < 1 || qa.category > 4) continue;
      const evidence = [...new Set(qa.evidence.flatMap(normaliseEvidence))];
      questions.push({ conversation, question: qa.question, category: qa.category, evidence });
    }
  }
  return { turns, questions };
}

/** Recall@k, hit@k and per-category recall@10 of ranked turn ids against the evidence. */
export interface RetrievalScores {
  recallAt5: number;
  recallAt10: number;
  hitAt10: number;
  recallAt10ByCategory: Record<number, number>;
}

/**
 * Scores ranked results per the protocol (recall averaged over questions; a question without
 * evidence counts 0).
 * @param questions - the questions.
 * @param ranked - for each question, its retrieved turn ids best first.
 */
export function scoreRetrieval(questions: LocomoQuestion[], ranked: string[][]): RetrievalScores {
  let r5 = 0;
  let r10 = 0;
  let h10 = 0;
  const byCat = new Map<number, { sum: number; n: number }>();
  questions.forEach((q, i) => {
    const ev = new Set(q.evidence);
    const got = ranked[i]!;
    const found = (k: number) => got.slice(0, k).filter((id) => ev.has(id)).length;
    const rec10 = ev.size ? found(10) / ev.size : 0;
    r5 += ev.size ? found(5) / ev.size : 0;
    r10 += rec10;
    h10 += found(10) > 0 ? 1 : 0;
    const c = byCat.get(q.category) ?? { sum: 0, n: 0 };
    c.sum += rec10;
    c.n++;
    byCat.set(q.category, c);
  });
  const n = questions.length;
  return {
    recallAt5: r5 / n,
    recallAt10: r10 / n,
    hitAt10: h10 / n,
    recallAt10ByCategory: Object.fromEntries([...byCat].map(([c, v]) => [c, v.sum / v.n])),
  };
}
