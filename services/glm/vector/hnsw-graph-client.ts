/**
 * Main-thread client of the HNSW graph worker (`hnsw-graph-worker.ts`): posts adds, removes and
 * searches in order, matches answers to requests, and turns a worker that cannot start or crashes
 * into one `onFailed` call (the index then falls back to exact search) instead of a silent exit.
 * @module
 */
import type { GraphOptions } from "./hnsw-graph-worker.ts";

/**
 * Request/response client of the graph worker. Messages are processed in order by the worker.
 * Searches reject (and adds/removes are dropped) once the worker has failed.
 */
export class GraphWorker {
  private readonly worker: Worker;
  private nextReq = 1;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  /** Called with the keys of every completed `add`. */
  onAdded: (keys: BigUint64Array) => void = () => {};
  readonly ready: Promise<number>;

  constructor(opts: GraphOptions, snapshot: string | undefined, workerUrl: string) {
    this.worker = new Worker(workerUrl);
    let readyResolve!: (n: number) => void;
    let readyReject!: (e: Error) => void;
    this.ready = new Promise<number>((res, rej) => {
      readyResolve = res;
      readyReject = rej;
    });
    this.worker.onmessage = (ev: MessageEvent) => {
      const m = ev.data as { type: string; req?: number; [k: string]: unknown };
      if (m.type === "ready") {
        if (typeof m.snapshotError === "string")
          return readyReject(new Error(`snapshot unreadable: ${m.snapshotError}`));
        return readyResolve(m.size as number);
      }
      if (m.type === "fatal") return this.fail(new Error(`HNSW graph worker failed: ${String(m.message)}`));
      if (m.type === "added") return this.onAdded(m.keys as BigUint64Array);
      const w = m.req !== undefined ? this.waiting.get(m.req) : undefined;
      if (m.type === "error") {
        if (w) {
          this.waiting.delete(m.req!);
          w.reject(new Error(String(m.message)));
        } else readyReject(new Error(String(m.message)));
        return;
      }
      if (w) {
        this.waiting.delete(m.req!);
        w.resolve(m);
      }
    };
    // A worker that cannot start or crashes must not take the server down: the index falls back
    // to exact search (every vector is also in the exact store) and says so in the log.
    this.worker.onerror = (ev: ErrorEvent) => {
      ev.preventDefault();
      this.fail(new Error(`HNSW graph worker failed: ${ev.message || "unknown error"}`));
    };
    this.rejectReady = readyReject;
    this.worker.postMessage({ type: "init", opts, snapshot });
  }

  private rejectReady: (e: Error) => void = () => {};

  private fail(err: Error): void {
    if (this.failed) return;
    this.failed = err;
    this.rejectReady(err);
    for (const w of this.waiting.values()) w.reject(err);
    this.waiting.clear();
    this.onFailed(err);
  }

  /** Set when the worker failed; no further requests are sent. */
  failed: Error | undefined;
  /** Called once when the worker fails. */
  onFailed: (err: Error) => void = () => {};

  private request<T>(msg: Record<string, unknown>, transfer: Transferable[] = []): Promise<T> {
    if (this.failed) return Promise.reject(this.failed);
    const req = this.nextReq++;
    return new Promise<T>((resolve, reject) => {
      // The worker's answer to request `req` is a `T` (the message shapes of hnsw-graph-worker.ts).
      this.waiting.set(req, { resolve: resolve as (v: unknown) => void, reject });
      this.worker.postMessage({ ...msg, req }, transfer);
    });
  }

  add(keys: BigUint64Array, vectors: Float32Array): void {
    if (this.failed) return;
    this.worker.postMessage({ type: "add", keys, vectors }, [keys.buffer, vectors.buffer]);
  }
  remove(label: number): void {
    if (this.failed) return;
    this.worker.postMessage({ type: "remove", key: BigInt(label) });
  }
  search(vector: Float32Array, k: number): Promise<{ keys: BigUint64Array; distances: Float32Array }> {
    // postMessage clones a typed array's whole backing buffer: a query that is a view into a large
    // buffer (a batch of embeddings, a loaded matrix) would be copied whole on every search.
    const own = vector.byteOffset === 0 && vector.byteLength === vector.buffer.byteLength ? vector : vector.slice();
    return this.request({ type: "search", vector: own, k });
  }
  save(path: string): Promise<unknown> {
    return this.request({ type: "save", path });
  }
  clear(): void {
    if (this.failed) return;
    this.worker.postMessage({ type: "clear" });
  }
  /**
   * Stops the worker once it has finished the messages sent before (at most `timeoutMs` later):
   * terminating it during a native graph insert, which runs on usearch's own threads, could abort
   * the whole process.
   */
  async stop(timeoutMs = 5000): Promise<void> {
    if (!this.failed) {
      const done = this.request({ type: "flush" }).catch(() => {});
      await Promise.race([done, Bun.sleep(timeoutMs)]);
    }
    this.worker.terminate();
  }
}
