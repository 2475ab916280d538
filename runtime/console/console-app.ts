/**
 * The web console's script (bundled by Bun from `index.html`): search over GLM (hybrid, vector or lexical), KEM
 * publishing to SWM and a live SWM event feed, all through the browser entry of the Agent SDK
 * (gRPC-Web or Connect over fetch). Served by the host at `/`.
 * @module
 */
import { ConnectError } from "@connectrpc/connect";
import { createAgentSDK, EventType, kemText, type AgentProtocol, type SWMMemoryEvent } from "../../sdk/index.ts";

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const params = new URLSearchParams(location.search);
const protocol = (params.get("protocol") === "connect" ? "connect" : "grpc-web") as AgentProtocol;
$<HTMLSelectElement>("protocol").value = protocol;
$<HTMLSelectElement>("protocol").onchange = (e) => {
  params.set("protocol", (e.target as HTMLSelectElement).value);
  location.search = params.toString();
};
$("origin").textContent = location.origin;

const sdk = createAgentSDK({ baseUrl: location.origin, protocol, agentId: `console-${Math.random().toString(36).slice(2, 10)}`, lpa: { maxEntries: 500, indexedKeys: ["topic"] } });
const errorText = (err: unknown) => {
  const ce = ConnectError.from(err);
  return `[${ce.code}] ${ce.rawMessage}`;
};
const preview = (s: string, n = 200) => (s.length > n ? `${s.slice(0, n)}…` : s);
function item(text: string, meta: string, cls = "meta"): HTMLLIElement {
  const li = document.createElement("li");
  li.append(document.createTextNode(text));
  const m = document.createElement("div");
  m.className = cls;
  m.textContent = meta;
  li.append(m);
  return li;
}

$<HTMLFormElement>("search-form").onsubmit = async (e) => {
  e.preventDefault();
  const text = $<HTMLInputElement>("search-text").value.trim();
  const k = Number($<HTMLInputElement>("search-k").value) || 5;
  const status = $("search-status");
  const list = $("results");
  status.textContent = "searching…";
  const t0 = performance.now();
  try {
    const mode = $<HTMLSelectElement>("search-mode").value as "hybrid" | "vector" | "lexical";
    const res = await sdk.searchGlm(text, { pageSize: k, mode });
    list.replaceChildren(
      ...res.kems.map((kem, i) => item(preview(kemText(kem)), `score ${(res.scores[i] ?? 0).toFixed(3)} · ${kem.id} · ${JSON.stringify(kem.metadata ?? {})}`)),
    );
    status.textContent = `${res.kems.length} results in ${(performance.now() - t0).toFixed(0)} ms`;
  } catch (err) {
    status.textContent = errorText(err);
    status.className = "status error";
  }
};

$<HTMLFormElement>("publish-form").onsubmit = async (e) => {
  e.preventDefault();
  const content = $<HTMLTextAreaElement>("publish-content").value;
  const topic = $<HTMLInputElement>("publish-topic").value.trim();
  const status = $("publish-status");
  const res = await sdk.publishKemsToSwmBatch([{ content, metadata: topic ? { topic } : {} }], { persistToGlm: $<HTMLInputElement>("publish-persist").checked });
  status.textContent = res.failed.length ? errorText(res.failed[0]!.error) : `published ${res.kems[0]!.id}`;
  status.className = res.failed.length ? "status error" : "status";
};

const feed = $("feed");
const show = (ev: SWMMemoryEvent) => {
  const kem = ev.kemPayload;
  const body = kem && (ev.eventType === EventType.KEM_PUBLISHED || ev.eventType === EventType.KEM_UPDATED) ? preview(kemText(kem), 120) : "";
  const li = item(`#${ev.sequence} ${EventType[ev.eventType]} ${kem?.id ?? ""} ${body}`, `${ev.sourceAgentId || "-"} · ${ev.details}`);
  li.dataset.kemId = kem?.id ?? "";
  feed.prepend(li);
  while (feed.children.length > 200) feed.lastElementChild!.remove();
};
const sub = sdk.handleSwmEvents({}, show, { onError: (err) => ($("status").textContent = `reconnecting: ${err.rawMessage}`) });
void sub.ready.then(() => ($("status").textContent = "live"));
void sub.done.catch((err: unknown) => ($("status").textContent = errorText(err)));
