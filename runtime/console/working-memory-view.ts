/**
 * The Working memory view: SWM's working set (QuerySWM, filtered by namespace and metadata, paged),
 * the live event feed (SubscribeToSWMEvents) as a scrolling list with type and text filters, pause
 * and resume from a sequence number (missed events still in SWM's history are replayed), watched
 * locks (GetLockInfo: holder, lock id, lease remaining, fencing token) and counters (GetCounter).
 * Each part shows only when the principal holds its right (`read`, `subscribe`, `lock`).
 * @module
 */
import { EventType, type KEM, kemQueryInit, kemText, type SWMMemoryEvent } from "../../sdk/index.ts";
import { byId, errorText, h, parseFilters, setStatus, timeText } from "./dom.ts";
import { type KemDetail, namespaceOfKem } from "./kem-detail.ts";
import type { Session } from "./session.ts";

/** Feed entries kept in the page. */
const MAX_FEED = 500;
/** How often watched locks and counters are re-read while the view is shown, ms. */
const WATCH_INTERVAL_MS = 1000;

/** Event stream figures the Status view shows. */
export interface FeedStats {
  /** Sequence of the last lifecycle event received. */
  lastSequence?: bigint;
  /** Receive time minus event time of the last event (heartbeats included), ms; the browser's and server's clocks both count. */
  lagMs?: number;
  /** Events received since the page loaded. */
  received: number;
  /** "live", "paused", "connecting…" or an error. */
  state: string;
}

/** The Working memory view's controller. */
export class WorkingMemoryView {
  private tokens: string[] = [""];
  private page = 0;
  private abort?: AbortController;
  private retry?: ReturnType<typeof setTimeout>;
  private watchTimer?: ReturnType<typeof setInterval>;
  private readonly locks = new Set<string>();
  private readonly counters = new Set<string>();
  /** Live figures of the event stream. */
  readonly stats: FeedStats = { received: 0, state: "off" };

  constructor(
    private readonly session: () => Session,
    private readonly detail: KemDetail,
  ) {
    byId<HTMLFormElement>("swm-form").onsubmit = (e) => {
      e.preventDefault();
      this.tokens = [""];
      this.page = 0;
      void this.query();
    };
    byId("swm-prev").onclick = () => {
      if (this.page > 0) {
        this.page--;
        void this.query();
      }
    };
    byId("swm-next").onclick = () => {
      if (this.tokens[this.page + 1]) {
        this.page++;
        void this.query();
      }
    };
    byId("ev-pause").onclick = () => this.pause();
    byId<HTMLFormElement>("ev-resume-form").onsubmit = (e) => {
      e.preventDefault();
      const raw = byId<HTMLInputElement>("ev-resume-seq").value.trim();
      this.subscribe(raw ? BigInt(raw) : undefined);
    };
    byId("ev-clear").onclick = () => byId("ev-feed").replaceChildren();
    byId("ev-filter").oninput = () => this.applyFilter();
    byId("ev-type").onchange = () => this.applyFilter();
    byId<HTMLFormElement>("lock-form").onsubmit = (e) => {
      e.preventDefault();
      const id = byId<HTMLInputElement>("lock-resource").value.trim();
      if (id) this.locks.add(id);
      byId<HTMLInputElement>("lock-resource").value = "";
      void this.readWatched();
    };
    byId<HTMLFormElement>("counter-form").onsubmit = (e) => {
      e.preventDefault();
      const id = byId<HTMLInputElement>("counter-id").value.trim();
      if (id) this.counters.add(id);
      byId<HTMLInputElement>("counter-id").value = "";
      void this.readWatched();
    };
  }

  /** Fits the view to the principal, queries the working set and opens the event stream. */
  start(): void {
    const s = this.session();
    const read = s.namespacesWith("read");
    const ns = byId<HTMLInputElement>("swm-ns");
    ns.value = read === "all" ? "" : (read[0] ?? "");
    ns.placeholder = read === "all" ? "any namespace" : read.join(", ");
    ns.required = read !== "all";
    const example = s.namespacesWith("lock") === "all" ? "" : `${s.who.defaultNamespace ?? "team"}/`;
    byId<HTMLInputElement>("lock-resource").placeholder = `resource id, e.g. ${example}build-index`;
    byId<HTMLInputElement>("counter-id").placeholder = `counter id, e.g. ${example}jobs-done`;
    byId("swm-set").hidden = !s.canAny("read");
    byId("swm-events").hidden = !s.canAny("subscribe");
    byId("swm-locks").hidden = !s.canAny("lock") && !s.canAny("read");
    this.locks.clear();
    this.counters.clear();
    byId("lock-rows").replaceChildren();
    byId("counter-rows").replaceChildren();
    if (s.canAny("read")) void this.query();
    this.stop();
    if (s.canAny("subscribe")) this.subscribe(undefined);
  }

  /** Starts or stops re-reading watched locks and counters (while the view is on screen). */
  setVisible(visible: boolean): void {
    clearInterval(this.watchTimer);
    this.watchTimer = visible ? setInterval(() => void this.readWatched(), WATCH_INTERVAL_MS) : undefined;
    if (visible) void this.readWatched();
  }

  /** Closes the event stream (sign-out). */
  stop(): void {
    clearTimeout(this.retry);
    this.abort?.abort();
    this.abort = undefined;
  }

  private async query(): Promise<void> {
    const s = this.session();
    const status = byId("swm-status");
    let md: Record<string, string | number | boolean>;
    try {
      md = parseFilters(byId<HTMLInputElement>("swm-meta").value);
    } catch (err) {
      return setStatus(status, (err as Error).message, true);
    }
    const ns = byId<HTMLInputElement>("swm-ns").value.trim();
    if (ns) md.namespace = ns;
    setStatus(status, "loading…");
    try {
      const res = await s.sdk.swm.querySWM({
        query: kemQueryInit({ metadataFilters: md }),
        pageSize: 20,
        pageToken: this.tokens[this.page] ?? "",
      });
      this.tokens[this.page + 1] = res.nextPageToken;
      this.tokens.length = this.page + 2;
      byId("swm-rows").replaceChildren(...res.kems.map((k) => this.row(k)));
      setStatus(
        status,
        `${res.kems.length} KEMs in the working set, newest first · page ${this.page + 1}${res.nextPageToken ? "" : " (last)"}`,
      );
      byId<HTMLButtonElement>("swm-prev").disabled = this.page === 0;
      byId<HTMLButtonElement>("swm-next").disabled = !res.nextPageToken;
    } catch (err) {
      setStatus(status, errorText(err), true);
    }
  }

  private row(kem: KEM): HTMLTableRowElement {
    const text = kemText(kem).replace(/\s+/g, " ").trim();
    const open = h(
      "button",
      { type: "button", class: "link row-open" },
      text.length > 120 ? `${text.slice(0, 120)}…` : text || "(empty)",
    );
    open.onclick = () => void this.detail.open(kem);
    const md = JSON.stringify(kem.metadata ?? {});
    return h(
      "tr",
      { dataset: { kemId: kem.id } },
      h("td", { class: "content-cell" }, open, h("div", { class: "meta trunc", title: md }, md)),
      h("td", {}, namespaceOfKem(kem) ?? "—"),
      h("td", { class: "nowrap" }, timeText(kem.updatedAt)),
    );
  }

  private subscribe(resumeAfter: bigint | undefined): void {
    this.stop();
    const s = this.session();
    const ac = new AbortController();
    this.abort = ac;
    this.setState("connecting…");
    byId<HTMLButtonElement>("ev-pause").disabled = false;
    byId<HTMLButtonElement>("ev-resume").disabled = true;
    void (async () => {
      try {
        const stream = s.sdk.swm.subscribeToSWMEvents(
          { agentId: s.agentId, resumeAfterSequence: resumeAfter },
          { signal: ac.signal },
        );
        for await (const ev of stream) {
          if (this.stats.state !== "live") this.setState("live");
          this.onEvent(ev);
        }
        if (!ac.signal.aborted) throw new Error("the event stream ended");
      } catch (err) {
        if (ac.signal.aborted) return;
        this.setState(`reconnecting: ${errorText(err)}`, true);
        this.retry = setTimeout(() => this.subscribe(this.stats.lastSequence), 2000);
      }
    })();
  }

  private pause(): void {
    this.stop();
    this.setState("paused");
    byId<HTMLInputElement>("ev-resume-seq").value = this.stats.lastSequence?.toString() ?? "";
    byId<HTMLButtonElement>("ev-pause").disabled = true;
    byId<HTMLButtonElement>("ev-resume").disabled = false;
  }

  private setState(state: string, error = false): void {
    this.stats.state = state;
    setStatus(byId("ev-state"), state, error);
  }

  private onEvent(ev: SWMMemoryEvent): void {
    if (ev.eventTime)
      this.stats.lagMs = Date.now() - (Number(ev.eventTime.seconds) * 1000 + Math.floor(ev.eventTime.nanos / 1e6));
    if (ev.eventType === EventType.HEARTBEAT) return;
    this.stats.received++;
    this.stats.lastSequence = ev.sequence;
    byId("ev-last").textContent = `last #${ev.sequence}`;
    const kem = ev.kemPayload;
    const body =
      kem && (ev.eventType === EventType.KEM_PUBLISHED || ev.eventType === EventType.KEM_UPDATED)
        ? kemText(kem).replace(/\s+/g, " ").trim()
        : "";
    const type = EventType[ev.eventType] ?? String(ev.eventType);
    const li = h(
      "li",
      { dataset: { kemId: kem?.id ?? "", type, seq: ev.sequence.toString() } },
      h("span", { class: "seq" }, `#${ev.sequence}`),
      " ",
      h("span", { class: `ev-type t-${type.toLowerCase()}` }, type),
      " ",
      h("span", { class: "nowrap meta" }, timeText(ev.eventTime)),
      " ",
      kem?.id ? h("code", { class: "id" }, kem.id) : "",
      h("div", { class: "trunc", title: body }, body),
      h(
        "div",
        { class: "meta trunc" },
        `${ev.sourceAgentId || "-"}${ev.details ? ` · ${ev.details}` : ""}${kem?.metadata ? ` · ${JSON.stringify(kem.metadata)}` : ""}`,
      ),
    );
    this.filterOne(li);
    const feed = byId("ev-feed");
    const atTop = feed.scrollTop < 4;
    feed.prepend(li);
    while (feed.children.length > MAX_FEED) feed.lastElementChild!.remove();
    if (!atTop) feed.scrollTop += li.offsetHeight;
  }

  private applyFilter(): void {
    for (const li of byId("ev-feed").children) this.filterOne(li as HTMLElement);
  }

  private filterOne(li: HTMLElement): void {
    const text = byId<HTMLInputElement>("ev-filter").value.trim().toLowerCase();
    const type = byId<HTMLSelectElement>("ev-type").value;
    li.hidden =
      (type !== "" && li.dataset.type !== type) ||
      (text !== "" && !(li.textContent ?? "").toLowerCase().includes(text));
  }

  /** The "×" button that stops watching `id` (removes it from `watched`) and reads the rest again. */
  private forgetButton(watched: Set<string>, id: string): HTMLButtonElement {
    return h(
      "button",
      {
        type: "button",
        class: "link",
        "aria-label": `stop watching ${id}`,
        onclick: () => {
          watched.delete(id);
          void this.readWatched();
        },
      },
      "×",
    );
  }

  private async readWatched(): Promise<void> {
    const s = this.session();
    const lockRows = await Promise.all(
      [...this.locks].map(async (id) => {
        const forget = this.forgetButton(this.locks, id);
        try {
          const info = await s.sdk.getDistributedLockInfo(id);
          const left = Number(info.leaseExpiresAtUnixMs) - Date.now();
          return h(
            "tr",
            { dataset: { resource: id, locked: String(info.isLocked) } },
            h("td", {}, h("code", { class: "wrap" }, id)),
            h("td", {}, info.isLocked ? "held" : "free"),
            h("td", { class: "holder" }, info.isLocked ? info.currentHolderAgentId : "—"),
            h(
              "td",
              { class: "lease" },
              info.isLocked
                ? info.leaseExpiresAtUnixMs > 0n
                  ? `${Math.max(0, left / 1000).toFixed(1)} s`
                  : "no lease"
                : "—",
            ),
            h("td", { class: "fencing" }, info.isLocked ? info.fencingToken.toString() : "—"),
            h(
              "td",
              { class: "col-id" },
              info.isLocked ? h("code", { class: "trunc id", title: info.lockId }, info.lockId) : "—",
            ),
            h("td", {}, forget),
          );
        } catch (err) {
          return h(
            "tr",
            { dataset: { resource: id } },
            h("td", {}, h("code", { class: "wrap" }, id)),
            h("td", { colspan: 5, class: "error" }, errorText(err)),
            h("td", {}, forget),
          );
        }
      }),
    );
    byId("lock-rows").replaceChildren(...lockRows);
    const counterRows = await Promise.all(
      [...this.counters].map(async (id) => {
        const forget = this.forgetButton(this.counters, id);
        try {
          const v = await s.sdk.getDistributedCounter(id);
          return h(
            "tr",
            { dataset: { counter: id } },
            h("td", {}, h("code", { class: "wrap" }, id)),
            h("td", { class: "value" }, v.toString()),
            h("td", {}, forget),
          );
        } catch (err) {
          return h(
            "tr",
            { dataset: { counter: id } },
            h("td", {}, h("code", { class: "wrap" }, id)),
            h("td", { class: "error" }, errorText(err)),
            h("td", {}, forget),
          );
        }
      }),
    );
    byId("counter-rows").replaceChildren(...counterRows);
  }
}
