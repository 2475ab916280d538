/**
 * Worker thread that owns the usearch HNSW graph for {@link createHnswVectorIndex}, so graph
 * inserts run on another core and never block request handling (writes never wait for the graph;
 * README "Storage and consistency"). Messages are processed in order; every request that expects an
 * answer carries `req`.
 *
 * In: `init` {opts, snapshot?}, `add` {keys, vectors}, `remove` {key}, `search` {req, vector, k},
 * `save` {req, path}, `clear`. Out: `ready` {size, snapshotError?}, `added` {keys}, `result` {req,
 * keys, distances}, `saved` {req}, `error` {req?, message}, `fatal` {message} (the graph is unusable).
 * @module
 */
import usearch from "usearch";

declare const self: Worker;

interface UsearchIndex {
  add(keys: BigUint64Array, vectors: Float32Array, threads?: number): void;
  search(vector: Float32Array, k: number, threads?: number): { keys: BigUint64Array; distances: Float32Array };
  remove(key: bigint): number;
  size(): number;
  save(path: string): void;
  load(path: string): void;
}

const { Index, MetricKind, ScalarKind } = usearch as unknown as {
  Index: new (opts: Record<string, unknown>) => UsearchIndex;
  MetricKind: Record<string, unknown>;
  ScalarKind: Record<string, unknown>;
};

/** Graph parameters sent with `init`. */
export interface GraphOptions {
  dimension: number;
  quantization: "f32" | "f16" | "i8";
  connectivity: number;
  expansionAdd: number;
  expansionSearch: number;
  threads: number;
}

let opts: GraphOptions;
let graph: UsearchIndex;

function newGraph(): UsearchIndex {
  return new Index({
    dimensions: opts.dimension,
    metric: MetricKind.IP,
    quantization: { f32: ScalarKind.F32, f16: ScalarKind.F16, i8: ScalarKind.I8 }[opts.quantization],
    connectivity: opts.connectivity,
    expansion_add: opts.expansionAdd,
    expansion_search: opts.expansionSearch,
  });
}

self.onmessage = (ev: MessageEvent) => {
  const m = ev.data as { type: string; req?: number; [k: string]: unknown };
  try {
    switch (m.type) {
      case "init": {
        opts = m.opts as GraphOptions;
        graph = newGraph();
        let snapshotError: string | undefined;
        if (typeof m.snapshot === "string") {
          try {
            graph.load(m.snapshot);
          } catch (err) {
            snapshotError = (err as Error).message;
            graph = newGraph(); // a failed load may leave the graph unusable
          }
        }
        self.postMessage({ type: "ready", size: graph.size(), snapshotError });
        break;
      }
      case "add": {
        const keys = m.keys as BigUint64Array;
        try {
          graph.add(keys, m.vectors as Float32Array, opts.threads);
        } catch (err) {
          self.postMessage({ type: "fatal", message: `add failed: ${(err as Error).message}` });
          break;
        }
        self.postMessage({ type: "added", keys }, [keys.buffer]);
        break;
      }
      case "remove":
        graph.remove(m.key as bigint);
        break;
      case "search": {
        const k = Math.min(m.k as number, graph.size());
        const res =
          k > 0
            ? graph.search(m.vector as Float32Array, k, 1)
            : { keys: new BigUint64Array(0), distances: new Float32Array(0) };
        self.postMessage({ type: "result", req: m.req, keys: res.keys, distances: res.distances });
        break;
      }
      case "save":
        graph.save(m.path as string);
        self.postMessage({ type: "saved", req: m.req });
        break;
      case "clear":
        graph = newGraph();
        break;
      case "flush": // every earlier message is done
        self.postMessage({ type: "flushed", req: m.req });
        break;
    }
  } catch (err) {
    self.postMessage({ type: "error", req: m.req, message: (err as Error).message });
  }
};
