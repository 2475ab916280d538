/**
 * The caller of the work running now, carried through async calls (`AsyncLocalStorage`), for
 * layers below the RPC handlers that must keep tenants apart without being handed the principal:
 * the embedding cache is partitioned by it, so one tenant cannot tell from cache timing (or hit
 * counters) which texts another tenant embedded.
 * @module
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type { Principal } from "../../services/common/access.ts";

/** The principal of the RPC or HTTP request being served (unset for in-process work). */
export const callerContext = new AsyncLocalStorage<Principal>();

/**
 * The embedding-cache partition of a principal: `*` for a principal with a `*` scope, else its
 * namespaces, sorted and comma-joined (a principal is confined to exactly those).
 */
export function cachePartitionOf(p: Principal | undefined): string {
  if (!p) return "";
  if (p.scopes.has("*")) return "*";
  return [...p.scopes.keys()].sort().join(",");
}

/** The cache partition of the current caller ("" when none is set). */
export function currentCachePartition(): string {
  return cachePartitionOf(callerContext.getStore());
}
