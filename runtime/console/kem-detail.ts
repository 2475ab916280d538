/**
 * The KEM detail dialog: content (text wrapped, JSON pretty-printed, code with its language,
 * binary as a size and hex preview), metadata, timestamps and id; editing content and metadata
 * (UpdateKEM, metadata replaced whole) and deleting with a confirmation step (DeleteKEM), each
 * offered only when the principal holds `write` on the KEM's namespace.
 * @module
 */
import { type KEM, kemText } from "../../sdk/index.ts";
import { isTextContentType } from "../../services/common/content-types.ts";
import { byId, errorText, h, setStatus, timeText } from "./dom.ts";
import type { Session } from "./session.ts";

/** True when the KEM's content is text (same rule as the server's, services/common/content-types.ts). */
export function isTextKem(kem: KEM): boolean {
  return kem.contentType === "" || isTextContentType(kem.contentType);
}

/** The namespace in a KEM's metadata (undefined when none). */
export function namespaceOfKem(kem: KEM): string | undefined {
  const ns = kem.metadata?.namespace;
  return typeof ns === "string" ? ns : undefined;
}

/** How the content is shown: its kind label and the element. */
export function renderContent(kem: KEM): { kind: string; el: HTMLElement } {
  if (!isTextKem(kem)) {
    const bytes = kem.content;
    const hex = Array.from(bytes.slice(0, 256), (b) => b.toString(16).padStart(2, "0")).join(" ");
    return {
      kind: `binary · ${bytes.length} bytes`,
      el: h("pre", { class: "content wrap" }, hex + (bytes.length > 256 ? " …" : "")),
    };
  }
  const text = kemText(kem);
  if (/json/i.test(kem.contentType)) {
    try {
      return { kind: "JSON", el: h("pre", { class: "content wrap" }, JSON.stringify(JSON.parse(text), null, 2)) };
    } catch {
      // not valid JSON: shown as text
    }
  }
  const lang = kem.metadata?.language;
  if (typeof lang === "string" && lang !== "text" && lang !== "markdown") {
    return {
      kind: `code · ${lang}`,
      el: h("pre", { class: "content code" }, h("code", { class: `language-${lang}`, "data-language": lang }, text)),
    };
  }
  return { kind: kem.contentType || "text", el: h("pre", { class: "content wrap" }, text) };
}

/** Opens KEMs in the page's `<dialog id="kem-dialog">`. */
export class KemDetail {
  private readonly dialog = byId<HTMLDialogElement>("kem-dialog");
  private readonly body = byId("kem-dialog-body");

  constructor(
    private readonly session: () => Session,
    /** Called after an update or a delete (to refresh lists). */
    private readonly onChange: (kind: "updated" | "deleted", kem: KEM) => void,
  ) {
    byId("kem-dialog-close").onclick = () => this.dialog.close();
  }

  /** Shows `kem` (fetching it first by id when given a string). */
  async open(kemOrId: KEM | string): Promise<void> {
    let kem: KEM | undefined;
    if (typeof kemOrId === "string") {
      this.body.replaceChildren(h("p", { class: "status" }, "loading…"));
      if (!this.dialog.open) this.dialog.showModal();
      try {
        kem = (await this.session().sdk.glm.retrieveKEMs({ query: { ids: [kemOrId] }, pageSize: 1 })).kems[0];
      } catch (err) {
        this.body.replaceChildren(h("p", { class: "status error" }, errorText(err)));
        return;
      }
      if (!kem) {
        this.body.replaceChildren(h("p", { class: "status error" }, `KEM ${kemOrId} not found in GLM`));
        return;
      }
    } else kem = kemOrId;
    this.show(kem);
    if (!this.dialog.open) this.dialog.showModal();
  }

  private show(kem: KEM): void {
    const s = this.session();
    const ns = namespaceOfKem(kem);
    const { kind, el } = renderContent(kem);
    const mayWrite = s.can("write", ns);
    const status = h("p", { class: "status", id: "kem-status", role: "status" });
    const actions = h("div", { class: "actions" });
    if (mayWrite) {
      if (isTextKem(kem))
        actions.append(h("button", { type: "button", id: "kem-edit", onclick: () => this.edit(kem) }, "Edit"));
      actions.append(
        h(
          "button",
          {
            type: "button",
            id: "kem-delete",
            class: "danger",
            onclick: () => this.confirmDelete(kem, actions, status),
          },
          "Delete",
        ),
      );
    } else
      actions.append(
        h(
          "span",
          { class: "status" },
          `read only: ${s.who.principal} may not write ${ns ? `namespace ${ns}` : "KEMs without a namespace"}`,
        ),
      );
    this.body.replaceChildren(
      h("h3", { id: "kem-dialog-title" }, "KEM ", h("code", { class: "wrap" }, kem.id)),
      h(
        "dl",
        { class: "facts" },
        h("dt", {}, "namespace"),
        h("dd", {}, ns ?? "—"),
        h("dt", {}, "content type"),
        h(
          "dd",
          {},
          h("span", { id: "kem-kind" }, kind === kem.contentType ? kind : `${kem.contentType || "(none)"} · ${kind}`),
        ),
        h("dt", {}, "created"),
        h("dd", {}, timeText(kem.createdAt)),
        h("dt", {}, "updated"),
        h("dd", { id: "kem-updated" }, timeText(kem.updatedAt)),
        h("dt", {}, "embedding"),
        h("dd", {}, kem.embeddings.length ? `${kem.embeddings.length} dimensions` : "not returned"),
      ),
      h("h4", {}, "Content"),
      el,
      h("h4", {}, "Metadata"),
      h("pre", { class: "content wrap", id: "kem-metadata" }, JSON.stringify(kem.metadata ?? {}, null, 2)),
      actions,
      status,
    );
  }

  private edit(kem: KEM): void {
    const content = h("textarea", { id: "kem-edit-content", rows: 8, "aria-label": "content" });
    content.value = kemText(kem);
    const metadata = h("textarea", { id: "kem-edit-metadata", rows: 6, "aria-label": "metadata (JSON object)" });
    metadata.value = JSON.stringify(kem.metadata ?? {}, null, 2);
    const status = h("p", { class: "status", role: "status" });
    const save = h("button", { type: "submit", id: "kem-save" }, "Save");
    const form = h(
      "form",
      { class: "stack" },
      h("h3", {}, "Edit KEM ", h("code", { class: "wrap" }, kem.id)),
      h("label", {}, "Content", content),
      h("label", {}, "Metadata (JSON object, replaces the whole metadata)", metadata),
      h("div", { class: "actions" }, save, h("button", { type: "button", onclick: () => this.show(kem) }, "Cancel")),
      status,
    );
    form.onsubmit = async (e) => {
      e.preventDefault();
      let md: Record<string, unknown>;
      try {
        md = JSON.parse(metadata.value) as Record<string, unknown>;
        if (typeof md !== "object" || md === null || Array.isArray(md))
          throw new Error("metadata must be a JSON object");
      } catch (err) {
        setStatus(status, `metadata: ${(err as Error).message}`, true);
        return;
      }
      save.disabled = true;
      try {
        const updated = await this.session().sdk.updateKem(kem.id, {
          content: content.value,
          metadata: md as never,
          replaceMetadata: true,
        });
        this.show(updated);
        setStatus(byId("kem-status"), `saved at ${timeText(updated.updatedAt)}`);
        this.onChange("updated", updated);
      } catch (err) {
        setStatus(status, errorText(err), true);
        save.disabled = false;
      }
    };
    this.body.replaceChildren(form);
    content.focus();
  }

  private confirmDelete(kem: KEM, actions: HTMLElement, status: HTMLElement): void {
    const yes = h("button", { type: "button", id: "kem-delete-confirm", class: "danger" }, "Yes, delete it");
    const no = h("button", { type: "button", onclick: () => this.show(kem) }, "Cancel");
    actions.replaceChildren(
      h("span", { role: "alert" }, "Delete this KEM from GLM for every agent? This cannot be undone. "),
      yes,
      no,
    );
    yes.onclick = async () => {
      yes.disabled = true;
      try {
        await this.session().sdk.deleteKem(kem.id);
        this.dialog.close();
        this.onChange("deleted", kem);
      } catch (err) {
        setStatus(status, errorText(err), true);
        yes.disabled = false;
      }
    };
    no.focus();
  }
}
