/**
 * The web console's entry script (bundled by Bun from `index.html`, served by the host at `/`):
 * sign-in with an API key or JWT (kept in `sessionStorage`), then four views — Memories (GLM
 * browse, filter, search, detail, edit, delete), Ingest (KPS), Working memory (SWM set, events,
 * locks, counters) and Status — each shown only when the principal may use it. Every call goes
 * through the browser entry of the Agent SDK (gRPC-Web by default, Connect with `?protocol=connect`).
 * @module
 */
import type { AgentProtocol } from "../../sdk/index.ts";
import { byId, setStatus, setUnauthenticatedHandler } from "./dom.ts";
import { IngestView } from "./ingest-view.ts";
import { KemDetail } from "./kem-detail.ts";
import { MemoriesView } from "./memories-view.ts";
import { forgetToken, Session, savedToken, signIn } from "./session.ts";
import { StatusView } from "./status-view.ts";
import { WorkingMemoryView } from "./working-memory-view.ts";

const params = new URLSearchParams(location.search);
const protocol: AgentProtocol = params.get("protocol") === "connect" ? "connect" : "grpc-web";
byId<HTMLSelectElement>("protocol").value = protocol;
byId<HTMLSelectElement>("protocol").onchange = (e) => {
  params.set("protocol", (e.target as HTMLSelectElement).value);
  location.search = params.toString();
};

let session: Session | undefined;
const current = () => {
  if (!session) throw new Error("not signed in");
  return session;
};

const detail = new KemDetail(current, () => {
  memories.refresh();
});
const memories = new MemoriesView(current, detail);
const ingest = new IngestView(current, detail, () => memories.refresh());
const working = new WorkingMemoryView(current, detail);
const status = new StatusView(current, working.stats);

const TABS = ["memories", "ingest", "working", "status"] as const;
type Tab = (typeof TABS)[number];

function allowed(tab: Tab): boolean {
  const s = current();
  if (tab === "memories") return s.canAny("read");
  if (tab === "ingest") return s.canAny("write");
  if (tab === "working") return s.canAny("read") || s.canAny("subscribe") || s.canAny("lock");
  return true;
}

function show(tab: Tab): void {
  for (const t of TABS) {
    const on = t === tab;
    byId(`view-${t}`).hidden = !on;
    const button = byId(`tab-${t}`);
    button.setAttribute("aria-selected", String(on));
    button.tabIndex = on ? 0 : -1;
  }
  working.setVisible(tab === "working");
  status.setVisible(tab === "status");
}

function route(): void {
  if (!session) return;
  const want = location.hash.slice(1) as Tab;
  const first = TABS.find(allowed) ?? "status";
  show(TABS.includes(want) && allowed(want) ? want : first);
}
addEventListener("hashchange", route);
// Arrow keys move between tabs (WAI-ARIA tabs pattern); Enter/Space follow the link.
byId("tabs").addEventListener("keydown", (e) => {
  if (e.key !== "ArrowRight" && e.key !== "ArrowLeft") return;
  const visible = TABS.filter((t) => !byId(`tab-${t}`).hidden);
  const at = visible.indexOf(location.hash.slice(1) as Tab);
  const next = visible[(Math.max(0, at) + (e.key === "ArrowRight" ? 1 : visible.length - 1)) % visible.length]!;
  location.hash = next;
  byId(`tab-${next}`).focus();
});

function signedIn(s: Session): void {
  session = s;
  byId("signin").hidden = true;
  byId("app").hidden = false;
  byId("who").textContent = s.who.authEnabled ? s.who.principal : "anonymous (authentication off)";
  byId("who-scopes").textContent = Object.entries(s.who.scopes)
    .map(([ns, r]) => `${ns}: ${r.join(",")}`)
    .join(" · ");
  byId("signout").hidden = !s.who.authEnabled;
  for (const t of TABS) byId(`tab-${t}`).hidden = !allowed(t);
  if (s.canAny("read")) memories.start();
  if (s.canAny("write")) ingest.start();
  working.start();
  status.start();
  route();
}

function signedOut(message = "", error = false): void {
  working.stop();
  working.setVisible(false);
  status.setVisible(false);
  session = undefined;
  byId("who").textContent = "not signed in";
  byId("who-scopes").textContent = "";
  byId("signout").hidden = true;
  byId("app").hidden = true;
  byId("signin").hidden = false;
  setStatus(byId("signin-status"), message, error);
  byId<HTMLTextAreaElement>("signin-token").focus();
}

byId<HTMLFormElement>("signin-form").onsubmit = async (e) => {
  e.preventDefault();
  const token = byId<HTMLTextAreaElement>("signin-token").value.trim();
  setStatus(byId("signin-status"), "checking…");
  const r = await signIn(token);
  if ("error" in r) return setStatus(byId("signin-status"), `refused (HTTP ${r.status}): ${r.error}`, true);
  byId<HTMLTextAreaElement>("signin-token").value = "";
  signedIn(new Session(r.who, token, protocol));
};
// A revoked key or an expired JWT: back to the sign-in form, saying why.
setUnauthenticatedHandler((message) => {
  if (!session) return;
  forgetToken();
  signedOut(`signed out: the server refused the credentials (${message})`, true);
});
byId("signout").onclick = () => {
  forgetToken();
  signedOut("signed out: the key was removed from this tab");
};

void (async () => {
  const token = savedToken();
  try {
    const r = await signIn(token);
    if ("who" in r) return signedIn(new Session(r.who, r.who.authEnabled ? token : "", protocol));
    if (token) forgetToken();
    signedOut(token ? `the saved key was refused: ${r.error}` : "this server requires an API key or JWT");
  } catch (err) {
    signedOut(`cannot reach the server: ${(err as Error).message}`, true);
  }
})();
