/**
 * The console's session: the API key or JWT the person pasted (kept in `sessionStorage` only, so it
 * goes with the tab), the principal `GET /whoami` reports for it, what that principal may do, and
 * the Agent SDK built with it (gRPC-Web or Connect over fetch).
 * @module
 */
import { type AgentProtocol, type AgentSDK, createAgentSDK } from "../../sdk/index.ts";
import type { Right } from "../../services/common/access.ts";
import type { WhoAmI } from "../auth/whoami.ts";

export type { Right } from "../../services/common/access.ts";
export type { WhoAmI } from "../auth/whoami.ts";

const TOKEN_KEY = "dcsm-console-token";

/** The signed-in caller: credentials, principal and rights, and an SDK that sends the credentials. */
export class Session {
  /** SDK whose calls carry the credential. */
  readonly sdk: AgentSDK;
  /** Agent id of this console tab (source of its events and locks). */
  readonly agentId = `console-${Math.random().toString(36).slice(2, 10)}`;

  constructor(
    /** What /whoami said. */
    readonly who: WhoAmI,
    /** The API key or JWT ("" when authentication is off). */
    readonly token: string,
    /** Transport protocol used from the page. */
    readonly protocol: AgentProtocol,
  ) {
    this.sdk = createAgentSDK({
      baseUrl: location.origin,
      protocol,
      agentId: this.agentId,
      token: token || undefined,
      lpa: { maxEntries: 200 },
    });
  }

  /** True when the principal holds `right` (or admin) on `namespace`, or on every namespace (`*`). */
  can(right: Right, namespace?: string): boolean {
    const has = (ns: string) => !!this.who.scopes[ns]?.some((r) => r === right || r === "admin");
    return has("*") || (namespace !== undefined && has(namespace));
  }

  /** Namespaces the principal may use with `right`: "all" for a `*` scope, else the list. */
  namespacesWith(right: Right): "all" | string[] {
    if (this.can(right)) return "all";
    return Object.keys(this.who.scopes).filter((ns) => ns !== "*" && this.can(right, ns));
  }

  /** True when the principal may use `right` somewhere. */
  canAny(right: Right): boolean {
    const ns = this.namespacesWith(right);
    return ns === "all" || ns.length > 0;
  }

  /** Headers that authenticate a plain HTTP request (/health). */
  headers(): HeadersInit {
    return this.token ? { authorization: `Bearer ${this.token}` } : {};
  }
}

/** The credential saved in this tab ("" when none). */
export function savedToken(): string {
  return sessionStorage.getItem(TOKEN_KEY) ?? "";
}

/** Forgets the credential of this tab. */
export function forgetToken(): void {
  sessionStorage.removeItem(TOKEN_KEY);
}

/**
 * Asks `GET /whoami` who `token` is; on success keeps the token in `sessionStorage`.
 * @returns the principal, or an error message (401 text) when the credential is missing or refused.
 */
export async function signIn(token: string): Promise<{ who: WhoAmI } | { error: string; status: number }> {
  const res = await fetch("/whoami", { headers: token ? { authorization: `Bearer ${token}` } : {}, cache: "no-store" });
  if (!res.ok) return { error: (await res.text()).trim() || `HTTP ${res.status}`, status: res.status };
  const who = (await res.json()) as WhoAmI;
  if (token && who.authEnabled) sessionStorage.setItem(TOKEN_KEY, token);
  return { who };
}
