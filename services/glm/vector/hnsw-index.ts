/**
 * Approximate vector index for large stores: an HNSW graph (`usearch`) maintained by a background
 * indexer, over an {@link ExactVectorStore} that holds every vector in float32 (DESIGN.md "Vector
 * index"). Writes never wait for the graph: a new or changed vector is searchable at once through
 * the exact "tail", which the indexer moves into the graph in small slices between requests.
 *
 * Search: graph candidates (over-fetched) are re-scored exactly and merged with the exact tail, so
 * scores are true cosines and recall does not depend on the graph's quantization. Small stores and
 * small filtered candidate sets go straight to exact search; large filtered sets over-fetch from
 * the graph and fall back to exact search when too few candidates pass the filter.
 *
 * Snapshots (`hnsw.usearch` + `hnsw.meta.json` in `snapshotDir`) let a restart skip the rebuild.
 * @module
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import usearch from "usearch";
import type { VectorEntry, VectorHit, VectorIndex, VectorSearchOptions } from "../ports.ts";
import { ExactVectorStore, isAfter, sortHits } from "./exact-store.ts";

/** Options of {@link createHnswVectorIndex}. */
export interface HnswVectorIndexOptions {
  /** Vector dimension. */
  dimension: number;
  /** Folder for snapshots; none when omitted. */
  snapshotDir?: string;
  /** Graph degree (HNSW M). @default 16 */
  connectivity?: number;
  /** Candidate list size while inserting (efConstruction). @default 64 */
  expansionAdd?: number;
  /** Candidate list size while searching (ef). @default 128 */
  expansionSearch?: number;
  /** Graph vector precision: "f16" halves memory, "i8" quarters it; results are re-scored exactly. @default "f16" */
  quantization?: "f32" | "f16" | "i8";
  /** Below this many vectors (or filtered candidates), search is exact. @default 20000 */
  exactThreshold?: number;
  /** Graph candidates fetched per result wanted. @default 4 */
  overFetch?: number;
  /** Vectors moved into the graph per indexer slice (the slice blocks the event loop). @default 256 */
  sliceSize?: number;
  /** Threads for graph inserts (0 = all cores). @default 0 */
  threads?: number;
  /** Write a snapshot after this many graph inserts since the last one. @default 100000 */
  snapshotEvery?: number;
  /** Logger. */
  log?: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
}

/** The HNSW index with test and bench hooks. */
export interface HnswVectorIndex extends VectorIndex {
  /** Resolves when the tail is empty (every vector is in the graph). */
  drained(): Promise<void>;
  /** Writes a snapshot now. */
  snapshot(): Promise<void>;
  /** Change-log position of the restored snapshot, if one was restored. */
  snapshotPosition(): number | undefined;
}

interface SnapshotMeta {
  version: 1;
  dimension: number;
  position: number;
  nextLabel: number;
  labels: [number, string][];
}

const { Index, MetricKind, ScalarKind } = usearch as unknown as {
  Index: new (opts: Record<string, unknown>) => UsearchIndex;
  MetricKind: Record<string, unknown>;
  ScalarKind: Record<string, unknown>;
};

interface UsearchIndex {
  add(keys: BigUint64Array | bigint, vectors: Float32Array, threads?: number): void;
  search(vector: Float32Array, k: number, threads?: number): { keys: BigUint64Array; distances: Float32Array };
  remove(keys: bigint): number;
  size(): number;
  save(path: string): void;
  load(path: string): void;
}

/**
 * Creates the HNSW index, restoring the snapshot in `snapshotDir` when one matches the dimension.
 * @throws nothing for a missing or unreadable snapshot (logged; the index starts empty).
 */
export function createHnswVectorIndex(options: HnswVectorIndexOptions): HnswVectorIndex {
  const dim = options.dimension;
  const exactThreshold = options.exactThreshold ?? 20_000;
  const overFetch = options.overFetch ?? 4;
  const sliceSize = options.sliceSize ?? 256;
  const threads = options.threads ?? 0;
  const snapshotEvery = options.snapshotEvery ?? 100_000;
  const quant = { f32: ScalarKind.F32, f16: ScalarKind.F16, i8: ScalarKind.I8 }[options.quantization ?? "f16"];
  const newGraph = () =>
    new Index({
      dimensions: dim,
      metric: MetricKind.IP,
      quantization: quant,
      connectivity: options.connectivity ?? 16,
      expansion_add: options.expansionAdd ?? 64,
      expansion_search: options.expansionSearch ?? 128,
    });

  let exact = new ExactVectorStore(dim);
  let graph = newGraph();
  /** Graph label of each id in the graph. */
  let labelOf = new Map<string, number>();
  /** Id of each live graph label. */
  let idOfLabel = new Map<number, string>();
  let nextLabel = 1;
  /** Ids whose current vector is not in the graph yet. */
  let tail = new Set<string>();
  let position = 0;
  let restoredPosition: number | undefined;
  let restoredIds: Set<string> | undefined;
  let insertedSinceSnapshot = 0;
  let closed = false;
  let running: Promise<void> | null = null;
  const drainWaiters: (() => void)[] = [];

  const snapFiles = options.snapshotDir
    ? { graph: join(options.snapshotDir, "hnsw.usearch"), meta: join(options.snapshotDir, "hnsw.meta.json") }
    : undefined;

  if (snapFiles && existsSync(snapFiles.graph) && existsSync(snapFiles.meta)) {
    try {
      const meta = JSON.parse(readFileSync(snapFiles.meta, "utf8")) as SnapshotMeta;
      if (meta.version === 1 && meta.dimension === dim) {
        graph.load(snapFiles.graph);
        for (const [label, id] of meta.labels) {
          labelOf.set(id, label);
          idOfLabel.set(label, id);
        }
        nextLabel = meta.nextLabel;
        restoredPosition = meta.position;
        restoredIds = new Set();
        options.log?.info({ vectors: meta.labels.length, position: meta.position }, "HNSW snapshot restored");
      }
    } catch (err) {
      options.log?.warn({ err }, "HNSW snapshot unreadable; starting empty");
      graph = newGraph();
      labelOf = new Map();
      idOfLabel = new Map();
    }
  }

  function unlink(id: string): void {
    const label = labelOf.get(id);
    if (label === undefined) return;
    graph.remove(BigInt(label));
    labelOf.delete(id);
    idOfLabel.delete(label);
  }

  function schedule(): void {
    if (running || closed || tail.size === 0) return;
    running = (async () => {
      while (!closed && tail.size > 0) {
        const ids: string[] = [];
        for (const id of tail) {
          ids.push(id);
          if (ids.length >= sliceSize) break;
        }
        const keys = new BigUint64Array(ids.length);
        const vectors = new Float32Array(ids.length * dim);
        ids.forEach((id, i) => {
          const label = nextLabel++;
          keys[i] = BigInt(label);
          vectors.set(exact.get(id)!, i * dim);
          labelOf.set(id, label);
          idOfLabel.set(label, id);
          tail.delete(id);
        });
        graph.add(keys, vectors, threads);
        insertedSinceSnapshot += ids.length;
        await new Promise<void>((r) => setImmediate(r)); // let requests through between slices
      }
      running = null;
      if (tail.size === 0) for (const w of drainWaiters.splice(0)) w();
      if (snapFiles && insertedSinceSnapshot >= snapshotEvery) await writeSnapshot();
      schedule();
    })();
  }

  async function writeSnapshot(): Promise<void> {
    if (!snapFiles || !options.snapshotDir) return;
    mkdirSync(options.snapshotDir, { recursive: true });
    const meta: SnapshotMeta = { version: 1, dimension: dim, position, nextLabel, labels: [...idOfLabel] };
    graph.save(`${snapFiles.graph}.tmp`);
    writeFileSync(`${snapFiles.meta}.tmp`, JSON.stringify(meta));
    renameSync(`${snapFiles.graph}.tmp`, snapFiles.graph);
    renameSync(`${snapFiles.meta}.tmp`, snapFiles.meta);
    insertedSinceSnapshot = 0;
  }

  function exactSearch(query: Float32Array, k: number, opts: VectorSearchOptions): VectorHit[] {
    return exact.search(query, k, opts.allow, opts.after);
  }

  function graphSearch(query: Float32Array, k: number, opts: VectorSearchOptions): VectorHit[] | undefined {
    const allow = opts.allow;
    const selectivity = allow ? Math.max(allow.size / exact.size, 1e-6) : 1;
    let fetch = Math.ceil(((opts.offset ?? 0) + k) * overFetch / selectivity);
    const graphSize = idOfLabel.size;
    for (;;) {
      fetch = Math.min(fetch, graphSize);
      const res = graph.search(query, Math.max(1, fetch), 1);
      const hits: VectorHit[] = [];
      for (let i = 0; i < res.keys.length; i++) {
        const id = idOfLabel.get(Number(res.keys[i]));
        if (id === undefined || tail.has(id)) continue;
        if (allow && !allow.has(id)) continue;
        const score = exact.score(query, id)!;
        if (isAfter(score, id, opts.after)) hits.push({ id, score });
      }
      // Tail vectors are exact-searched and merged.
      if (tail.size > 0) {
        const tailAllow = allow ? new Set([...tail].filter((id) => allow.has(id))) : tail;
        hits.push(...exact.search(query, k, tailAllow, opts.after));
      }
      if (hits.length >= k || fetch >= graphSize) return sortHits(hits).slice(0, k);
      if (fetch * 4 > graphSize && allow && allow.size <= exactThreshold * 4) return undefined; // exact is cheaper
      fetch *= 4;
    }
  }

  const index: HnswVectorIndex = {
    dimension: dim,
    external: false,
    async upsert(entries: VectorEntry[]) {
      for (const e of entries) exact.checkDimension(e.vector, "vector");
      for (const e of entries) {
        unlink(e.id);
        exact.set(e.id, e.vector);
        tail.add(e.id);
      }
      schedule();
    },
    async load(entries: VectorEntry[]) {
      for (const e of entries) exact.checkDimension(e.vector, "vector");
      for (const e of entries) {
        exact.set(e.id, e.vector);
        if (labelOf.has(e.id)) restoredIds?.add(e.id);
        else tail.add(e.id);
      }
    },
    async loadDone() {
      if (restoredIds) {
        for (const id of [...labelOf.keys()]) if (!restoredIds.has(id)) unlink(id);
        restoredIds = undefined;
      }
      schedule();
    },
    async remove(ids: string[]) {
      for (const id of ids) {
        unlink(id);
        tail.delete(id);
        exact.delete(id);
      }
    },
    async search(query, k, opts = {}) {
      exact.checkDimension(query, "query vector");
      if (k <= 0 || exact.size === 0) return [];
      const small = exact.size <= exactThreshold || (opts.allow !== undefined && opts.allow.size <= exactThreshold);
      if (small || idOfLabel.size === 0) return exactSearch(query, k, opts);
      return graphSearch(query, k, opts) ?? exactSearch(query, k, opts);
    },
    async clear() {
      exact = new ExactVectorStore(dim);
      graph = newGraph();
      labelOf = new Map();
      idOfLabel = new Map();
      tail = new Set();
      restoredPosition = undefined;
      restoredIds = undefined;
    },
    stats: () => ({ size: exact.size, unindexed: tail.size, kind: "hnsw" }),
    snapshotPosition: () => restoredPosition,
    notePosition(seq: number) {
      position = seq;
    },
    drained() {
      if (tail.size === 0 && !running) return Promise.resolve();
      return new Promise<void>((resolve) => drainWaiters.push(resolve));
    },
    snapshot: writeSnapshot,
    async close() {
      closed = true;
      await running;
      if (snapFiles) {
        // A snapshot records graph entries only; tail vectors are re-indexed after a restart.
        await writeSnapshot();
      }
    },
  };
  return index;
}

/** Removes a snapshot (tests and `--rebuild`). */
export function removeHnswSnapshot(dir: string): void {
  rmSync(join(dir, "hnsw.usearch"), { force: true });
  rmSync(join(dir, "hnsw.meta.json"), { force: true });
}
