/**
 * Worker thread of GLM's lexical search (see `sqlite-lexical-thread.ts`): one read-only
 * connection to the store's file answering lexical searches in the order they arrive.
 *
 * Messages in: `{ type: "init", path, busyTimeoutMs }` once, then `{ type: "search", req, query, k,
 * options }`, and `{ type: "close" }` last. Out: `{ type: "ready" }` or `{ type: "fatal", message }`
 * for the init, `{ type: "hits", req, hits }` or `{ type: "error", req, message, code }` per search,
 * `{ type: "closed" }` once the connection is closed.
 * @module
 */
import { Database } from "bun:sqlite";
import type { LexicalSearchOptions } from "../ports.ts";
import { createSqliteLexicalSearch, type LexicalSearchFn } from "./sqlite-lexical.ts";
import { createStatementCache } from "./sqlite-statement-cache.ts";

declare const self: Worker;

let search: LexicalSearchFn | undefined;
let db: Database | undefined;

self.onmessage = (ev: MessageEvent) => {
  const m = ev.data as {
    type: string;
    req?: number;
    path?: string;
    busyTimeoutMs?: number;
    query?: string;
    k?: number;
    options?: LexicalSearchOptions;
  };
  if (m.type === "init") {
    try {
      db = new Database(m.path!, { readwrite: true, create: false, strict: true });
      db.exec(`PRAGMA busy_timeout = ${Math.max(0, Math.floor(m.busyTimeoutMs ?? 7500))};`);
      // This connection only reads: a bug can never write the store from here.
      db.exec("PRAGMA query_only = 1;");
      search = createSqliteLexicalSearch(db, createStatementCache(db));
      self.postMessage({ type: "ready" });
    } catch (err) {
      self.postMessage({ type: "fatal", message: err instanceof Error ? err.message : String(err) });
    }
    return;
  }
  if (m.type === "close") {
    // Closed here, before the thread ends, so the file is released when the store's close resolves.
    db?.close();
    db = undefined;
    search = undefined;
    self.postMessage({ type: "closed" });
    return;
  }
  if (m.type !== "search") return;
  try {
    if (!search) throw new Error("lexical thread is not initialised");
    self.postMessage({ type: "hits", req: m.req, hits: search(m.query!, m.k!, m.options) });
  } catch (err) {
    const e = err as { message?: unknown; code?: unknown };
    self.postMessage({
      type: "error",
      req: m.req,
      message: String(e?.message ?? err),
      code: typeof e?.code === "string" ? e.code : undefined,
    });
  }
};
