/**
 * The Memories view: a paged table of GLM KEMs (newest `updated_at` first, RetrieveKEMs without a
 * query), filtered by namespace, metadata equalities and created/updated date ranges, or ranked by
 * a text search in one mode (hybrid, vector or lexical; docs/search.md) with each result's score.
 * Rows open the KEM detail dialog.
 * @module
 */
import {
  type KEM,
  type KemQueryInput,
  kemQueryInit,
  kemText,
  type RetrieveKEMsResponse,
  type SearchModeName,
} from "../../sdk/index.ts";
import { byId, dateInput, errorText, h, parseFilters, setStatus, timeText } from "./dom.ts";
import { type KemDetail, namespaceOfKem } from "./kem-detail.ts";
import type { Session } from "./session.ts";

const preview = (s: string, n = 140) => {
  const one = s.replace(/\s+/g, " ").trim();
  return one.length > n ? `${one.slice(0, n)}…` : one;
};

/** What the Memories view's form asks for: filters, search text and mode, page size. */
interface MemoriesQuery {
  filters: KemQueryInput;
  text: string;
  mode: SearchModeName;
  pageSize: number;
}

/** The Memories view's controller. */
export class MemoriesView {
  private tokens: string[] = [""];
  private page = 0;
  private readonly status = byId("mem-status");

  constructor(
    private readonly session: () => Session,
    private readonly detail: KemDetail,
  ) {
    byId<HTMLFormElement>("mem-form").onsubmit = (e) => {
      e.preventDefault();
      this.tokens = [""];
      this.page = 0;
      void this.load();
    };
    byId("mem-prev").onclick = () => {
      if (this.page > 0) {
        this.page--;
        void this.load();
      }
    };
    byId("mem-next").onclick = () => {
      if (this.tokens[this.page + 1]) {
        this.page++;
        void this.load();
      }
    };
    byId("mem-clear").onclick = () => {
      byId<HTMLFormElement>("mem-form").reset();
      this.setNamespaceDefault();
      this.tokens = [""];
      this.page = 0;
      void this.load();
    };
  }

  /** Fits the form to the principal (namespaces it may read) and loads the first page. */
  start(): void {
    const ns = this.session().namespacesWith("read");
    const list = byId<HTMLDataListElement>("ns-list");
    list.replaceChildren(...(ns === "all" ? [] : ns).map((n) => h("option", { value: n })));
    this.setNamespaceDefault();
    this.tokens = [""];
    this.page = 0;
    void this.load();
  }

  private setNamespaceDefault(): void {
    const ns = this.session().namespacesWith("read");
    const input = byId<HTMLInputElement>("mem-ns");
    input.value = ns === "all" ? "" : (ns[0] ?? "");
    input.placeholder = ns === "all" ? "any namespace" : ns.join(", ");
    input.required = ns !== "all";
  }

  /** Reloads the current page (after an edit or a delete). */
  refresh(): void {
    void this.load();
  }

  private query(): MemoriesQuery {
    const filters: KemQueryInput = {};
    const md = parseFilters(byId<HTMLInputElement>("mem-meta").value);
    const ns = byId<HTMLInputElement>("mem-ns").value.trim();
    if (ns) md.namespace = ns;
    if (Object.keys(md).length) filters.metadataFilters = md;
    filters.createdAfter = dateInput(byId("mem-created-from"));
    filters.createdBefore = dateInput(byId("mem-created-to"));
    filters.updatedAfter = dateInput(byId("mem-updated-from"));
    filters.updatedBefore = dateInput(byId("mem-updated-to"));
    const text = byId<HTMLInputElement>("mem-q").value.trim();
    const mode = byId<HTMLSelectElement>("mem-mode").value as SearchModeName;
    const pageSize = Math.min(100, Math.max(1, Number(byId<HTMLInputElement>("mem-page-size").value) || 20));
    return { filters, text, mode, pageSize };
  }

  private async load(): Promise<void> {
    const s = this.session();
    let q: MemoriesQuery;
    try {
      q = this.query();
    } catch (err) {
      setStatus(this.status, (err as Error).message, true);
      return;
    }
    setStatus(this.status, q.text ? `searching (${q.mode})…` : "loading…");
    const t0 = performance.now();
    let res: RetrieveKEMsResponse;
    try {
      const pageToken = this.tokens[this.page] ?? "";
      res = q.text
        ? await s.sdk.searchGlm(q.text, { ...q.filters, mode: q.mode, pageSize: q.pageSize, pageToken })
        : await s.sdk.glm.retrieveKEMs({ query: kemQueryInit(q.filters), pageSize: q.pageSize, pageToken });
    } catch (err) {
      setStatus(this.status, errorText(err), true);
      byId("mem-rows").replaceChildren();
      return;
    }
    this.tokens[this.page + 1] = res.nextPageToken;
    this.tokens.length = this.page + 2;
    const ranked = q.text !== "";
    byId("mem-table").classList.toggle("ranked", ranked);
    byId("mem-score-head").textContent = ranked
      ? `score (${q.mode === "vector" ? "cosine" : q.mode === "lexical" ? "BM25" : "RRF"})`
      : "";
    byId("mem-rows").replaceChildren(...res.kems.map((kem, i) => this.row(kem, ranked ? res.scores[i] : undefined)));
    const what = ranked ? `${res.kems.length} results (${q.mode})` : `${res.kems.length} KEMs, newest first`;
    setStatus(
      this.status,
      `${what} · page ${this.page + 1}${res.nextPageToken ? "" : " (last)"} · ${(performance.now() - t0).toFixed(0)} ms`,
    );
    byId<HTMLButtonElement>("mem-prev").disabled = this.page === 0;
    byId<HTMLButtonElement>("mem-next").disabled = !res.nextPageToken;
  }

  private row(kem: KEM, score: number | undefined): HTMLTableRowElement {
    const open = h(
      "button",
      { type: "button", class: "link row-open", title: "open this KEM" },
      preview(kemText(kem)) || "(empty)",
    );
    open.onclick = () => void this.detail.open(kem);
    const md = { ...(kem.metadata ?? {}) };
    delete md.namespace;
    const mdText = JSON.stringify(md);
    return h(
      "tr",
      { dataset: { kemId: kem.id } },
      h("td", { class: "score" }, score === undefined ? "" : score.toFixed(4)),
      h(
        "td",
        { class: "content-cell" },
        open,
        h("div", { class: "meta trunc", title: mdText }, mdText === "{}" ? "" : mdText),
      ),
      h("td", { class: "col-type" }, kem.contentType),
      h("td", {}, namespaceOfKem(kem) ?? "—"),
      h("td", { class: "nowrap" }, timeText(kem.updatedAt)),
      h("td", { class: "col-id" }, h("code", { class: "trunc id", title: kem.id }, kem.id)),
    );
  }
}
