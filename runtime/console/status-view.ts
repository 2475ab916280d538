/**
 * The Status view: readiness from `GET /health` and, for a principal with `admin` on every
 * namespace (or with authentication off), its details — KEM count, store, vector index kind and
 * size, embedding queue and cache, SWM backend and write-behind queue; the lag of this page's SWM
 * event stream; and the principal's own namespaces and rights (`GET /whoami`).
 * @module
 */
// Type-only: erased from the browser bundle, so the console stays free of server modules.
import type { BatchingStats } from "../../services/kps/embedder/batching-embedder.ts";
import { byId, h, setStatus } from "./dom.ts";
import type { Session } from "./session.ts";
import type { FeedStats } from "./working-memory-view.ts";

/** `GET /health`'s body (details only for admins). */
interface Health {
  status: string;
  model?: string;
  dimension?: number;
  kems?: number;
  store?: string;
  vectorIndex?: { kind: string; size: number; unindexed: number };
  embedding?: {
    ready: boolean;
    queue: BatchingStats;
    cache: { hits: number; misses: number; hitRatio: number; entries: number; bytes: number; maxBytes: number };
  };
  swm?: {
    backend: string;
    workingSet?: { kems: number; evictions: number };
    writeBehind: { depth: number; oldestAgeMs: number; persisted: number; rejected: number; failedAttempts: number };
  };
  rssBytes?: number;
}

const mb = (n: number) => `${(n / 1048576).toFixed(1)} MB`;

/** The Status view's controller. */
export class StatusView {
  private timer?: ReturnType<typeof setInterval>;

  constructor(
    private readonly session: () => Session,
    private readonly feed: FeedStats,
  ) {
    byId("status-refresh").onclick = () => void this.load();
  }

  /** Loads now and every 5 s while shown. */
  setVisible(visible: boolean): void {
    clearInterval(this.timer);
    this.timer = visible ? setInterval(() => void this.load(), 5000) : undefined;
    if (visible) void this.load();
  }

  /** Renders the principal's scopes (called on sign-in). */
  start(): void {
    const who = this.session().who;
    byId("status-scopes").replaceChildren(
      ...Object.entries(who.scopes).map(([ns, rights]) =>
        h("tr", {}, h("td", {}, ns === "*" ? "* (every namespace)" : ns), h("td", {}, rights.join(", "))),
      ),
    );
    byId("status-principal").textContent =
      `${who.principal}${who.authEnabled ? "" : " (authentication is off)"}${who.defaultNamespace ? ` · writes default to ${who.defaultNamespace}` : ""}`;
  }

  private async load(): Promise<void> {
    const s = this.session();
    const out = byId("status-cards");
    let body: Health;
    let code: number;
    try {
      const res = await fetch("/health", { headers: s.headers(), cache: "no-store" });
      code = res.status;
      body = (await res.json()) as Health;
    } catch (err) {
      setStatus(byId("status-ready"), `unreachable: ${(err as Error).message}`, true);
      return;
    }
    const ready = code === 200 && body.status === "ok";
    setStatus(byId("status-ready"), ready ? "ready" : `not ready (${body.status}, HTTP ${code})`, !ready);
    const cards: [string, string, string][] = [];
    const feed = this.feed;
    cards.push([
      "event stream",
      feed.state,
      feed.lagMs === undefined
        ? "no event yet"
        : `lag ${feed.lagMs} ms · ${feed.received} events${feed.lastSequence !== undefined ? ` · last #${feed.lastSequence}` : ""}`,
    ]);
    if (body.kems !== undefined) {
      cards.push(["KEMs in GLM", String(body.kems), `store ${body.store ?? "?"}`]);
      if (body.vectorIndex)
        cards.push([
          "vector index",
          body.vectorIndex.kind,
          `${body.vectorIndex.size} vectors · ${body.vectorIndex.unindexed} not yet in the graph`,
        ]);
      cards.push(["model", body.model ?? "?", `${body.dimension ?? "?"} dimensions`]);
      if (body.embedding) {
        const q = body.embedding.queue;
        const c = body.embedding.cache;
        cards.push([
          "embedding queue",
          `${q.queued} / ${q.maxQueue}`,
          `${q.inputs} inputs in ${q.batches} batches (mean ${q.meanBatch.toFixed(1)}) · ${q.inputsPerSecond.toFixed(0)}/s · ${q.rejected} rejected`,
        ]);
        cards.push([
          "embedding cache",
          `${(c.hitRatio * 100).toFixed(0)} % hits`,
          `${c.entries} vectors · ${mb(c.bytes)} of ${mb(c.maxBytes)} · ${c.hits} hits, ${c.misses} misses`,
        ]);
      }
      if (body.swm) {
        const w = body.swm.writeBehind;
        const ws = body.swm.workingSet;
        if (ws) cards.push(["SWM working set", `${ws.kems} KEMs`, `${ws.evictions} evicted since start`]);
        cards.push([
          "SWM backend",
          body.swm.backend,
          `write-behind queue ${w.depth} (oldest ${w.oldestAgeMs} ms) · ${w.persisted} persisted · ${w.rejected} rejected · ${w.failedAttempts} failed attempts`,
        ]);
      }
      if (body.rssBytes !== undefined) cards.push(["server memory", mb(body.rssBytes), "resident set size"]);
    }
    out.replaceChildren(
      ...cards.map(([title, value, note]) =>
        h(
          "div",
          { class: "card" },
          h("div", { class: "card-title" }, title),
          h("div", { class: "card-value wrap" }, value),
          h("div", { class: "meta wrap" }, note),
        ),
      ),
    );
    byId("status-note").hidden = body.kems !== undefined;
  }
}
