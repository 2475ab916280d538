/**
 * Retrieval quality on the LoCoMo dev split (`glm.retrieval/locomo-dev`): recall@5, recall@10 and
 * hit@10 of RetrieveKEMs in each search mode (vector, lexical, hybrid), through the GLM service
 * with the committed model, one KEM per dialogue turn, each question filtered to its own
 * conversation (protocol: `bench/lib/locomo.ts`). The same-run baseline is exact cosine ranking
 * computed directly on the same embeddings (`glm.retrieval/raw-dense`): GLM's vector mode must
 * match it, which proves the store, filters and index add no loss.
 *
 * The data folder is {@link locomoDir}'s; without it the case says so and yields nothing.
 * @module
 */
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { createClient, createRouterTransport } from "@connectrpc/connect";
import { GlobalLongTermMemoryService } from "../../sdk/gen/dcsm/v1/glm_service_pb.ts";
import { KEMQuerySchema, SearchMode } from "../../sdk/gen/dcsm/v1/kem_pb.ts";
import type { KemWrite } from "../../services/common/kem-record.ts";
import { DEFAULT_KEM_LIMITS } from "../../services/common/limits.ts";
import { assembleGlm } from "../../services/glm/assembly.ts";
import type { HybridOptions } from "../../services/glm/search/kem-search.ts";
import { createGlmService } from "../../services/glm/service.ts";
import { createSqliteKemStore } from "../../services/glm/store/sqlite-store.ts";
import { createExactVectorIndex } from "../../services/glm/vector/exact-index.ts";
import { benchDir, benchEmbedder } from "../lib/fixtures.ts";
import {
  type LocomoQuestion,
  type LocomoSplit,
  loadLocomo,
  locomoDir,
  type RetrievalScores,
  scoreRetrieval,
} from "../lib/locomo.ts";
import { type BenchResult, percentile } from "../lib/stats.ts";

/** A GLM loaded with the split's turns, ready to be queried. */
export interface LoadedLocomo {
  split: LocomoSplit;
  /** Embedding of each turn, in `split.turns` order. */
  turnVectors: Float32Array[];
  /** Embedding of each question, in `split.questions` order. */
  questionVectors: Float32Array[];
  /** Ranks every question in `mode` with the given hybrid parameters; turn ids best first. */
  rank(mode: SearchMode, k: number, hybrid?: Partial<HybridOptions>): Promise<{ ranked: string[][]; latMs: number[] }>;
  close(): void;
}

const idOf = (conversation: string, diaId: string) => `${conversation}/${diaId}`;

/**
 * Stores every turn (with its embedding) in a fresh GLM and returns a ranker over it.
 * @param split - the loaded split.
 */
export async function loadLocomoGlm(split: LocomoSplit): Promise<LoadedLocomo> {
  const embedder = await benchEmbedder();
  const turnVectors = await embedder.embed(split.turns.map((t) => t.text));
  const questionVectors = await embedder.embed(split.questions.map((q) => q.question));
  const store = createSqliteKemStore({ path: join(benchDir("dcsm-bench-locomo-"), "glm.sqlite") });
  const index = createExactVectorIndex({ dimension: embedder.dimension });
  const { repository } = await assembleGlm({
    store,
    index,
    embedder,
    limits: { ...DEFAULT_KEM_LIMITS, dimension: embedder.dimension },
  }).open();
  const enc = new TextEncoder();
  const writes: KemWrite[] = split.turns.map((t, i) => ({
    id: idOf(t.conversation, t.diaId),
    contentType: "text/plain",
    content: enc.encode(t.text),
    metadata: { conversation: t.conversation, dia_id: t.diaId },
    embedding: turnVectors[i]!,
  }));
  for (let i = 0; i < writes.length; i += 500) await repository.write(writes.slice(i, i + 500));
  const limits = { ...DEFAULT_KEM_LIMITS, dimension: embedder.dimension };
  return {
    split,
    turnVectors,
    questionVectors,
    async rank(mode, k, hybrid) {
      // One service per hybrid setting over the same repository (the ranking parameters vary, the data does not).
      const impl = createGlmService({ repository, embedder, limits, hybrid });
      const client = createClient(
        GlobalLongTermMemoryService,
        createRouterTransport(({ service }) => service(GlobalLongTermMemoryService, impl)),
      );
      const ranked: string[][] = [];
      const latMs: number[] = [];
      for (const q of split.questions) {
        const t0 = performance.now();
        const res = await client.retrieveKEMs({
          query: create(KEMQuerySchema, {
            textQuery: q.question,
            searchMode: mode,
            metadataFilters: { conversation: { kind: { case: "stringValue", value: q.conversation } } },
          }),
          pageSize: k,
        });
        latMs.push(performance.now() - t0);
        ranked.push(res.kems.map((kem) => String(kem.metadata?.dia_id ?? "")));
      }
      return { ranked, latMs };
    },
    close: () => void store.close(),
  };
}

/** Exact cosine ranking of each question's conversation turns, straight from the embeddings. */
export function rawDenseRanking(
  split: LocomoSplit,
  turnVectors: Float32Array[],
  questionVectors: Float32Array[],
  k: number,
): string[][] {
  return split.questions.map((q: LocomoQuestion, qi) => {
    const qv = questionVectors[qi]!;
    const scored: { id: string; s: number }[] = [];
    split.turns.forEach((t, ti) => {
      if (t.conversation !== q.conversation) return;
      const v = turnVectors[ti]!;
      let s = 0;
      for (let d = 0; d < v.length; d++) s += v[d]! * qv[d]!;
      scored.push({ id: t.diaId, s });
    });
    scored.sort((a, b) => b.s - a.s || (a.id < b.id ? -1 : 1));
    return scored.slice(0, k).map((x) => x.id);
  });
}

function resultOf(name: string, scores: RetrievalScores, latMs?: number[]): BenchResult {
  const sorted = latMs ? [...latMs].sort((a, b) => a - b) : undefined;
  const total = latMs?.reduce((a, b) => a + b, 0);
  const extra: Record<string, number> = {
    recallAt5: scores.recallAt5,
    recallAt10: scores.recallAt10,
    hitAt10: scores.hitAt10,
  };
  for (const [c, r] of Object.entries(scores.recallAt10ByCategory)) extra[`recallAt10_cat${c}`] = r;
  return {
    case: name,
    n: latMs?.length ?? 0,
    opsPerSec: latMs && total ? latMs.length / (total / 1000) : 0,
    ...(sorted ? { p50Ms: percentile(sorted, 50), p99Ms: percentile(sorted, 99) } : {}),
    extra,
  };
}

/** Runs `glm.retrieval/locomo-dev`. */
export async function benchRetrievalLocomo(): Promise<BenchResult[]> {
  const dir = locomoDir();
  const split = loadLocomo(dir);
  if (!split) {
    console.log(`  glm.retrieval/locomo-dev: SKIPPED — no LoCoMo data at ${dir} (set DCSM_BENCH_LOCOMO_DIR)`);
    return [];
  }
  const glm = await loadLocomoGlm(split);
  try {
    const raw = rawDenseRanking(split, glm.turnVectors, glm.questionVectors, 10);
    const out = [resultOf("glm.retrieval/raw-dense", scoreRetrieval(split.questions, raw))];
    for (const [label, mode] of [
      ["vector", SearchMode.VECTOR],
      ["lexical", SearchMode.LEXICAL],
      ["hybrid", SearchMode.HYBRID],
    ] as const) {
      const { ranked, latMs } = await glm.rank(mode, 10);
      const r = resultOf(`glm.retrieval/locomo-dev-${label}`, scoreRetrieval(split.questions, ranked), latMs);
      r.baseline = "glm.retrieval/raw-dense";
      out.push(r);
    }
    return out;
  } finally {
    glm.close();
  }
}
