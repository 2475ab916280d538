/**
 * Who is calling and what they may do: principals, namespaces and rights (docs/security.md).
 * A KEM belongs to one namespace, named by its reserved metadata key `namespace`
 * ({@link NAMESPACE_KEY}); a principal holds rights per namespace, or on every namespace (`*`).
 * The services never read credentials: the host authenticates each call and puts the
 * {@link Principal} in the Connect context under {@link principalKey}. Calls that carry no
 * principal (in-process calls between services) act as {@link SYSTEM_PRINCIPAL}.
 * @module
 */
import { createContextKey, type HandlerContext } from "@connectrpc/connect";
import { PermissionError } from "./errors.ts";

/** Rights a scope grants on a namespace. */
export const RIGHTS = ["read", "write", "publish", "subscribe", "lock", "admin"] as const;
/** One right: `read` (GLM/SWM reads), `write` (GLM/KPS writes), `publish` (SWM publish/load), `subscribe` (SWM events), `lock` (locks and counters), `admin` (all of them, and `/metrics`). */
export type Right = (typeof RIGHTS)[number];

/** Metadata key that names a KEM's namespace. */
export const NAMESPACE_KEY = "namespace";
/** Namespace pattern: 1–64 of letters, digits, `_`, `-`, `.`. */
export const NAMESPACE_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;

/** An authenticated caller and the rights it holds. */
export interface Principal {
  /** Key id or JWT subject, for logs ("anonymous" when authentication is off, "system" in process). */
  id: string;
  /** Rights per namespace; the key `*` grants them on every namespace. */
  scopes: ReadonlyMap<string, ReadonlySet<Right>>;
  /** First namespace the scopes name (not `*`): where writes without a namespace go. */
  defaultNamespace?: string;
}

/** Every right on every namespace: in-process calls, and every caller when authentication is off. */
export const SYSTEM_PRINCIPAL: Principal = Object.freeze({
  id: "system",
  scopes: new Map([["*", new Set<Right>(RIGHTS)]]),
});

/** Context key the host sets on every call; the default is {@link SYSTEM_PRINCIPAL} (in-process callers). */
export const principalKey = createContextKey<Principal>(SYSTEM_PRINCIPAL, { description: "dcsm principal" });

/** The caller of an RPC. */
export function principalOf(ctx: HandlerContext | undefined): Principal {
  return ctx ? ctx.values.get(principalKey) : SYSTEM_PRINCIPAL;
}

function holds(set: ReadonlySet<Right> | undefined, right: Right): boolean {
  return !!set && (set.has(right) || set.has("admin"));
}

/** True when `p` holds `right` (or `admin`) on `namespace` (`undefined`: KEMs without a namespace, only `*` scopes). */
export function can(p: Principal, namespace: string | undefined, right: Right): boolean {
  if (holds(p.scopes.get("*"), right)) return true;
  return namespace !== undefined && holds(p.scopes.get(namespace), right);
}

/**
 * Namespaces `p` may use with `right`: `"all"` for a `*` scope, else the list (maybe empty).
 */
export function namespacesWith(p: Principal, right: Right): "all" | string[] {
  if (holds(p.scopes.get("*"), right)) return "all";
  const out: string[] = [];
  for (const [ns, set] of p.scopes) if (ns !== "*" && holds(set, right)) out.push(ns);
  return out;
}

/**
 * Throws unless `p` holds `right` on `namespace`.
 * @throws PermissionError (`PermissionDenied`) naming the principal, right and namespace.
 */
export function requireRight(p: Principal, namespace: string | undefined, right: Right, what = "this"): void {
  if (can(p, namespace, right)) return;
  const where = namespace === undefined ? "KEMs without a namespace" : `namespace ${JSON.stringify(namespace)}`;
  throw new PermissionError(`${p.id} may not ${right} ${where} (${what})`);
}

/**
 * Parses scope strings `"<namespace>:<right>[,<right>…]"` (`*` for every namespace or every right),
 * e.g. `"team-a:read,write"`, `"*:read"`, `"ops:*"`.
 * @throws Error naming the bad entry (configuration errors: the server does not start).
 */
export function parseScopes(entries: readonly string[]): {
  scopes: Map<string, Set<Right>>;
  defaultNamespace?: string;
} {
  const scopes = new Map<string, Set<Right>>();
  let defaultNamespace: string | undefined;
  for (const entry of entries) {
    const at = entry.lastIndexOf(":");
    const ns = entry.slice(0, at).trim();
    const rights = entry
      .slice(at + 1)
      .split(",")
      .map((r) => r.trim())
      .filter((r) => r !== "");
    if (at <= 0 || rights.length === 0)
      throw new Error(`scope ${JSON.stringify(entry)} is not "<namespace>:<right>[,<right>]"`);
    if (ns !== "*" && !NAMESPACE_PATTERN.test(ns))
      throw new Error(`scope ${JSON.stringify(entry)}: namespace must match ${NAMESPACE_PATTERN}`);
    const set = scopes.get(ns) ?? new Set<Right>();
    for (const r of rights) {
      if (r === "*") for (const x of RIGHTS) set.add(x);
      else if ((RIGHTS as readonly string[]).includes(r)) set.add(r as Right);
      else
        throw new Error(
          `scope ${JSON.stringify(entry)}: unknown right ${JSON.stringify(r)} (rights: ${RIGHTS.join(", ")}, *)`,
        );
    }
    scopes.set(ns, set);
    if (ns !== "*" && defaultNamespace === undefined) defaultNamespace = ns;
  }
  return { scopes, defaultNamespace };
}
