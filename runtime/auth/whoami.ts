/**
 * `GET /whoami`: tells a caller which principal its credentials prove and what it may do, so a
 * client (the web console) can show the caller's namespaces and hide actions it may not take. It
 * is authenticated exactly like every RPC (`authorization: Bearer <API key or JWT>`, or
 * `x-api-key`), and reveals nothing beyond the caller's own scopes.
 * @module
 */
import type { Context } from "hono";
import { type Principal, RIGHTS, type Right } from "../../services/common/access.ts";
import type { Authenticator } from "./authenticator.ts";

/** The JSON body of `GET /whoami` (200). */
export interface WhoAmI {
  /** False when the server runs without authentication (every caller is "anonymous" with every right). */
  authEnabled: boolean;
  /** Key id or JWT subject ("anonymous" when authentication is off). */
  principal: string;
  /** Rights per namespace; the key `*` means every namespace. Rights are those of `RIGHTS`, `admin` implying all. */
  scopes: Record<string, Right[]>;
  /** Where writes without a `metadata.namespace` go (absent for `*`-only principals). */
  defaultNamespace?: string;
  /** Every right name, in order (so clients need not hard-code them). */
  rights: readonly Right[];
}

/** The {@link WhoAmI} body of a principal. */
export function whoAmIOf(p: Principal, authEnabled: boolean): WhoAmI {
  const scopes: Record<string, Right[]> = {};
  for (const [ns, set] of p.scopes) scopes[ns] = RIGHTS.filter((r) => set.has(r));
  return {
    authEnabled,
    principal: p.id,
    scopes,
    ...(p.defaultNamespace ? { defaultNamespace: p.defaultNamespace } : {}),
    rights: RIGHTS,
  };
}

/**
 * Hono handler of `GET /whoami`.
 * @returns 200 with {@link WhoAmI}; 401 (`www-authenticate: Bearer`, text body naming the reason)
 *   when authentication is on and the credentials are missing, unknown, expired or malformed.
 */
export function whoAmIHandler(auth: Authenticator) {
  return async (c: Context) => {
    try {
      const p = await auth.authenticate(c.req.raw.headers);
      return c.json(whoAmIOf(p, auth.enabled), 200, { "cache-control": "no-store" });
    } catch (err) {
      return c.text(`${(err as Error).message}\n`, 401, { "www-authenticate": "Bearer", "cache-control": "no-store" });
    }
  };
}
