/**
 * GLM's lexical search on its own thread (docs/search.md "Hybrid"): BM25 ranking in FTS5 is the
 * costliest part of a hybrid query at large sizes (every KEM matching any query word is scored),
 * and on the store's thread it ran one after the other with the dense search. On a worker with a
 * read-only connection to the same WAL file it runs while the query is embedded and searched
 * densely. Every write commits on the store's connection before its RPC answers, so a search sent
 * afterwards sees it (WAL readers see every committed transaction when their read starts).
 * @module
 */
import type { LexicalHit, LexicalSearchOptions } from "../ports.ts";

/** Raised for searches in flight or sent when the worker has failed; the store then searches on its own connection. */
export class LexicalThreadFailedError extends Error {
  override readonly name = "LexicalThreadFailedError";
}

/** Bun's `Worker` can be left out of what keeps the process alive (not in the DOM typings). */
type RefWorker = Worker & { ref(): void; unref(): void };

/** Options of {@link LexicalThread}. */
export interface LexicalThreadOptions {
  /** The store's database file. */
  path: string;
  /** Busy timeout of the worker's connection, in ms. */
  busyTimeoutMs: number;
  /** Location of the worker script (packaging). @default "./sqlite-lexical-worker.ts" beside this file */
  workerUrl?: string;
}

/** Request/response client of the lexical worker; searches are answered in order. */
export class LexicalThread {
  private readonly worker: RefWorker;
  private nextReq = 1;
  private readonly waiting = new Map<number, { resolve: (hits: LexicalHit[]) => void; reject: (e: Error) => void }>();
  /** Set once the worker has failed (it could not open the file, or crashed); no request is sent after. */
  failed: Error | undefined;
  /** Called once when the worker fails (not when it is closed). */
  onFailed: (err: Error) => void = () => {};

  constructor(options: LexicalThreadOptions) {
    this.worker = new Worker(
      options.workerUrl ?? new URL("./sqlite-lexical-worker.ts", import.meta.url).href,
    ) as RefWorker;
    this.worker.onmessage = (ev: MessageEvent) => {
      const m = ev.data as { type: string; req?: number; hits?: LexicalHit[]; message?: string; code?: string };
      if (m.type === "closed") return this.onClosed();
      if (m.type === "fatal") return this.fail(new LexicalThreadFailedError(`lexical thread failed: ${m.message}`));
      const w = m.req === undefined ? undefined : this.waiting.get(m.req);
      if (!w) return;
      this.waiting.delete(m.req!);
      if (this.waiting.size === 0) this.worker.unref();
      if (m.type === "hits") w.resolve(m.hits!);
      else w.reject(Object.assign(new Error(m.message), m.code ? { code: m.code } : {}));
    };
    this.worker.onerror = (ev: ErrorEvent) => {
      ev.preventDefault();
      this.fail(new LexicalThreadFailedError(`lexical thread failed: ${ev.message || "unknown error"}`));
    };
    // Counted as keeping the process alive only while searches are waiting: an idle store must not
    // hold a CLI command open, and a pending search must not let the process exit.
    this.worker.unref();
    this.worker.postMessage({ type: "init", path: options.path, busyTimeoutMs: options.busyTimeoutMs });
  }

  private fail(err: Error, closing = false): void {
    if (this.failed) return;
    this.failed = err;
    if (!closing) this.onFailed(err);
    for (const w of this.waiting.values()) w.reject(err);
    this.waiting.clear();
    this.worker.terminate();
    this.worker.unref();
  }

  /**
   * One lexical search (`sqlite-lexical.ts` semantics).
   * @throws LexicalThreadFailedError when the worker has failed; the driver's error (message and
   *   `code`) when the search itself fails.
   */
  search(query: string, k: number, options?: LexicalSearchOptions): Promise<LexicalHit[]> {
    if (this.failed) return Promise.reject(this.failed);
    const req = this.nextReq++;
    return new Promise<LexicalHit[]>((resolve, reject) => {
      if (this.waiting.size === 0) this.worker.ref();
      this.waiting.set(req, { resolve, reject });
      this.worker.postMessage({ type: "search", req, query, k, options });
    });
  }

  private onClosed: () => void = () => {};

  /**
   * Closes the worker's connection, then stops the worker; searches in flight reject with
   * {@link LexicalThreadFailedError}. Resolves once the file is released (or after
   * `timeoutMs` if the worker does not answer, when it is stopped anyway).
   */
  async close(timeoutMs = 2000): Promise<void> {
    if (!this.failed) {
      const closed = new Promise<void>((resolve) => {
        this.onClosed = resolve;
        setTimeout(resolve, timeoutMs).unref();
      });
      this.worker.ref();
      this.worker.postMessage({ type: "close" });
      await closed;
    }
    this.fail(new LexicalThreadFailedError("lexical thread closed"), true);
  }
}
