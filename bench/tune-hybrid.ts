/**
 * Tunes the hybrid ranking on the LoCoMo dev split: `bun bench/tune-hybrid.ts` sweeps the RRF
 * constant, the dense/lexical weights and the rank window, and prints recall@5, recall@10 and
 * hit@10 for each setting, best recall@10 first. How the defaults in
 * `services/glm/search/kem-search.ts` were chosen (docs/search.md "Hybrid").
 * @module
 */
import { SearchMode } from "../sdk/gen/dcsm/v1/kem_pb.ts";
import { loadLocomoGlm } from "./cases/glm-retrieval.ts";
import { closeFixtures } from "./lib/fixtures.ts";
import { loadLocomo, locomoDir, scoreRetrieval } from "./lib/locomo.ts";

const split = loadLocomo(locomoDir());
if (!split) {
  console.error(`no LoCoMo data at ${locomoDir()} (set DCSM_BENCH_LOCOMO_DIR)`);
  process.exit(2);
}
const glm = await loadLocomoGlm(split);
const rows: { setting: string; r5: number; r10: number; h10: number }[] = [];
const ks = (process.env.TUNE_K ?? "10,30,60,100").split(",").map(Number);
const weights = (process.env.TUNE_VECTOR_WEIGHT ?? "0.3,0.5,0.7,1").split(",").map(Number);
const windows = (process.env.TUNE_WINDOW ?? "30,100,300").split(",").map(Number);
for (const rrfK of ks) {
  for (const vectorWeight of weights) {
    for (const window of windows) {
      const { ranked } = await glm.rank(SearchMode.HYBRID, 10, { rrfK, vectorWeight, lexicalWeight: 1, window });
      const s = scoreRetrieval(split.questions, ranked);
      const setting = `k=${rrfK} wv=${vectorWeight} wl=1 window=${window}`;
      rows.push({ setting, r5: s.recallAt5, r10: s.recallAt10, h10: s.hitAt10 });
      console.log(
        `${setting.padEnd(36)} r@5 ${s.recallAt5.toFixed(4)}  r@10 ${s.recallAt10.toFixed(4)}  hit@10 ${s.hitAt10.toFixed(4)}`,
      );
    }
  }
}
rows.sort((a, b) => b.r10 - a.r10 || b.h10 - a.h10);
console.log("\nbest by recall@10:");
for (const r of rows.slice(0, 10))
  console.log(`${r.setting.padEnd(36)} r@5 ${r.r5.toFixed(4)}  r@10 ${r.r10.toFixed(4)}  hit@10 ${r.h10.toFixed(4)}`);
glm.close();
await closeFixtures();
