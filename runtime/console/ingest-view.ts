/**
 * The Ingest view: files dropped or chosen, or text pasted, go to KPS ProcessRawData one at a time
 * (KPS chunks, embeds and stores them in GLM); each file shows its progress (queued, reading,
 * processing, done or failed) and then its chunks with their line ranges (metadata `start_line` /
 * `end_line`), fetched back from GLM by id. Offered only to principals with `write` somewhere.
 * @module
 */
import { type KEM, kemText } from "../../sdk/index.ts";
import { isTextContentType } from "../../services/common/content-types.ts";
import { byId, errorText, h, setStatus } from "./dom.ts";
import type { KemDetail } from "./kem-detail.ts";
import type { Session } from "./session.ts";

/** Largest file sent, bytes (the server's message limit applies too; this keeps the browser responsive). */
const MAX_FILE_BYTES = 4 * 1024 * 1024;

interface Job {
  name: string;
  read: () => Promise<Uint8Array>;
  contentType: string;
  size: number;
}

/** The Ingest view's controller. */
export class IngestView {
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly session: () => Session,
    private readonly detail: KemDetail,
    /** Called after a file was stored (to refresh the Memories table). */
    private readonly onStored: () => void,
  ) {
    const drop = byId("ingest-drop");
    const input = byId<HTMLInputElement>("ingest-files");
    drop.addEventListener("dragover", (e) => {
      e.preventDefault();
      drop.classList.add("over");
    });
    drop.addEventListener("dragleave", () => drop.classList.remove("over"));
    drop.addEventListener("drop", (e) => {
      e.preventDefault();
      drop.classList.remove("over");
      this.addFiles([...(e.dataTransfer?.files ?? [])]);
    });
    input.onchange = () => {
      this.addFiles([...(input.files ?? [])]);
      input.value = "";
    };
    byId<HTMLFormElement>("ingest-paste-form").onsubmit = (e) => {
      e.preventDefault();
      const text = byId<HTMLTextAreaElement>("ingest-text").value;
      if (!text.trim()) return;
      const name =
        byId<HTMLInputElement>("ingest-name").value.trim() ||
        `pasted-${new Date().toISOString().replace(/[:.]/g, "-")}.md`;
      const bytes = new TextEncoder().encode(text);
      this.enqueue({ name, read: async () => bytes, contentType: "text/plain", size: bytes.length });
      byId<HTMLTextAreaElement>("ingest-text").value = "";
    };
  }

  /** Fits the namespace choice to the principal's `write` namespaces. */
  start(): void {
    const ns = this.session().namespacesWith("write");
    const sel = byId<HTMLInputElement>("ingest-ns");
    sel.value = ns === "all" ? "" : (ns[0] ?? "");
    sel.placeholder = ns === "all" ? "none (optional)" : ns.join(", ");
    sel.required = ns !== "all";
  }

  private addFiles(files: File[]): void {
    for (const f of files) {
      this.enqueue({
        name: f.name,
        read: async () => new Uint8Array(await f.arrayBuffer()),
        contentType: f.type && isTextContentType(f.type) ? f.type : "text/plain",
        size: f.size,
      });
    }
  }

  private enqueue(job: Job): void {
    const state = h("span", { class: "state" }, "queued");
    const bar = h("progress", { max: 3, value: 0, "aria-label": `progress of ${job.name}` });
    const chunks = h("div", { class: "chunks" });
    const li = h(
      "li",
      { class: "ingest-item", dataset: { name: job.name } },
      h(
        "div",
        { class: "ingest-head" },
        h("strong", { class: "wrap" }, job.name),
        ` · ${job.size} bytes · `,
        state,
        " ",
        bar,
      ),
      chunks,
    );
    byId("ingest-list").prepend(li);
    const ns = byId<HTMLInputElement>("ingest-ns").value.trim();
    const maxChunkChars = Number(byId<HTMLInputElement>("ingest-chunk").value) || 0;
    this.queue = this.queue.then(() => this.run(job, ns, maxChunkChars, state, bar, chunks, li));
  }

  private async run(
    job: Job,
    ns: string,
    maxChunkChars: number,
    state: HTMLElement,
    bar: HTMLProgressElement,
    chunks: HTMLElement,
    li: HTMLElement,
  ): Promise<void> {
    const s = this.session();
    const fail = (msg: string) => {
      setStatus(state, msg, true);
      li.dataset.state = "failed";
    };
    if (job.size > MAX_FILE_BYTES) return fail(`too large: the console sends files up to ${MAX_FILE_BYTES} bytes`);
    state.textContent = "reading…";
    bar.value = 1;
    let bytes: Uint8Array;
    try {
      bytes = await job.read();
    } catch (err) {
      return fail(`cannot read: ${(err as Error).message}`);
    }
    state.textContent = "chunking and embedding…";
    bar.value = 2;
    const t0 = performance.now();
    try {
      const res = await s.sdk.kps.processRawData(
        {
          sourcePath: job.name,
          contentType: job.contentType,
          rawContent: bytes,
          initialMetadata: ns ? { namespace: ns } : undefined,
          maxChunkChars,
        },
        { timeoutMs: 300_000 },
      );
      if (!res.success) return fail(res.statusMessage || "KPS did not store the document");
      bar.value = 3;
      state.textContent = `done: ${res.kemIds.length} chunks (${res.chunksEmbedded} embedded, ${res.chunksUnchanged} unchanged, ${res.chunksRemoved} removed) in ${(performance.now() - t0).toFixed(0)} ms`;
      li.dataset.state = "done";
      const kems = res.kemIds.length
        ? (await s.sdk.glm.retrieveKEMs({ query: { ids: res.kemIds }, pageSize: Math.min(res.kemIds.length, 1000) }))
            .kems
        : [];
      const line = (k: KEM) => Number(k.metadata?.start_line ?? 0);
      kems.sort((a, b) => line(a) - line(b));
      chunks.replaceChildren(
        h(
          "ol",
          { class: "chunk-list" },
          ...kems.map((k) => {
            const open = h(
              "button",
              { type: "button", class: "link" },
              `lines ${String(k.metadata?.start_line ?? "?")}–${String(k.metadata?.end_line ?? "?")}`,
            );
            open.onclick = () => void this.detail.open(k);
            const text = kemText(k).replace(/\s+/g, " ").trim();
            return h(
              "li",
              { class: "chunk", dataset: { kemId: k.id } },
              open,
              " ",
              h("span", { class: "meta" }, String(k.metadata?.language ?? "")),
              h("div", { class: "trunc" }, text.length > 160 ? `${text.slice(0, 160)}…` : text),
            );
          }),
        ),
      );
      this.onStored();
    } catch (err) {
      fail(errorText(err));
    }
  }
}
