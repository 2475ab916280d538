/**
 * Namespace scoping of requests (docs/security.md), shared by the GLM, SWM and KPS
 * guards: which namespace a written KEM goes to, how a query is confined to what the caller may
 * read, and which namespace a lock or counter name belongs to.
 * @module
 */
import { create, type JsonObject } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { type KEMQuery, KEMQuerySchema } from "../../sdk/gen/dcsm/v1/kem_pb.ts";
import {
  can,
  NAMESPACE_KEY,
  NAMESPACE_PATTERN,
  namespacesWith,
  type Principal,
  type Right,
  requireRight,
} from "../common/access.ts";
import { InvalidInputError, NotFoundError, PermissionError } from "../common/errors.ts";

/** Existing KEMs' namespaces by id in one store (`undefined`: the KEM exists without a namespace); absent ids are unknown. */
export type NamespaceLookup = (ids: string[]) => Promise<Map<string, string | undefined>>;

/**
 * Owners of existing KEM ids across every store that holds them (GLM and SWM): for each known id,
 * the namespace it has in each store (one entry per store holding it). The ownership rule of every
 * write path: an id owned in either store may only be written by a principal with the right on
 * each of its owners' namespaces.
 */
export type OwnerLookup = (ids: string[]) => Promise<Map<string, (string | undefined)[]>>;

/** An {@link OwnerLookup} asking each store's {@link NamespaceLookup} (all of them, concurrently). */
export function ownersAcross(...stores: NamespaceLookup[]): OwnerLookup {
  return async (ids) => {
    const out = new Map<string, (string | undefined)[]>();
    if (ids.length === 0) return out;
    for (const found of await Promise.all(stores.map((lookup) => lookup(ids)))) {
      for (const [id, ns] of found) {
        const list = out.get(id);
        if (list) list.push(ns);
        else out.set(id, [ns]);
      }
    }
    return out;
  };
}

/** The namespace named by a metadata object, validated. @throws InvalidInputError when not a valid namespace string. */
export function namespaceIn(metadata: JsonObject | undefined, field = "metadata"): string | undefined {
  const v = metadata?.[NAMESPACE_KEY];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string" || !NAMESPACE_PATTERN.test(v)) {
    throw new InvalidInputError(`${field}.${NAMESPACE_KEY} must be a string matching ${NAMESPACE_PATTERN}`);
  }
  return v;
}

/**
 * The namespace a KEM written by `p` goes to: the one its metadata names, else the caller's
 * default namespace for `right` (written into the metadata, which is returned).
 * @throws InvalidInputError for a malformed namespace; PermissionError when `p` lacks `right` there
 *   or has no namespace to default to.
 */
export function stampNamespace(
  p: Principal,
  metadata: JsonObject | undefined,
  right: Right,
  field = "kem.metadata",
): { namespace: string | undefined; metadata: JsonObject | undefined } {
  let ns = namespaceIn(metadata, field);
  if (ns === undefined) {
    const mine = namespacesWith(p, right);
    if (mine === "all") return { namespace: undefined, metadata };
    ns = p.defaultNamespace !== undefined && mine.includes(p.defaultNamespace) ? p.defaultNamespace : mine[0];
    if (ns === undefined) throw new PermissionError(`${p.id} may not ${right} in any namespace`);
    metadata = { ...metadata, [NAMESPACE_KEY]: ns };
  }
  requireRight(p, ns, right, "KEM write");
  return { namespace: ns, metadata };
}

/**
 * Confines a query to what `p` may read with `right`: a query that pins `metadata_filters.namespace`
 * must name a readable namespace; one that does not is pinned to the caller's only readable
 * namespace. Callers with a `*` scope are not restricted.
 * @returns the (possibly rewritten) query and the namespace it is confined to (undefined: all).
 * @throws PermissionError outside the caller's namespaces; InvalidInputError when the caller reads
 *   several namespaces and the query pins none (say which one).
 */
export function scopeQuery(
  p: Principal,
  query: KEMQuery | undefined,
  right: Right,
): { query: KEMQuery | undefined; namespace: string | undefined } {
  const allowed = namespacesWith(p, right);
  if (allowed === "all") return { query, namespace: undefined };
  const pinned = query?.metadataFilters[NAMESPACE_KEY];
  if (pinned) {
    if (pinned.kind.case !== "stringValue")
      throw new InvalidInputError(`query.metadata_filters.${NAMESPACE_KEY} must be a string`);
    requireRight(p, pinned.kind.value, right, "query");
    return { query, namespace: pinned.kind.value };
  }
  if (allowed.length === 0) throw new PermissionError(`${p.id} may not ${right} any namespace`);
  if (allowed.length > 1) {
    throw new InvalidInputError(
      `${p.id} may ${right} namespaces ${allowed.join(", ")}: set query.metadata_filters.${NAMESPACE_KEY} to one of them`,
    );
  }
  const ns = allowed[0]!;
  const q = query ?? create(KEMQuerySchema);
  q.metadataFilters = {
    ...q.metadataFilters,
    [NAMESPACE_KEY]: create(ValueSchema, { kind: { case: "stringValue", value: ns } }),
  };
  return { query: q, namespace: ns };
}

/**
 * Checks that `p` may overwrite the KEMs with these ids, which may already exist in another
 * namespace in either store (an upsert by id must not take over a KEM of another tenant).
 * @param owners - owners of the ids in every store (see {@link OwnerLookup}).
 * @returns the ids `p` may not overwrite, with the reason.
 */
export async function foreignIds(
  p: Principal,
  ids: string[],
  right: Right,
  owners: OwnerLookup,
): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  if (ids.length === 0) return out;
  const existing = await owners(ids);
  for (const [id, namespaces] of existing) {
    const denied = namespaces.filter((n) => !can(p, n, right));
    if (denied.length === 0) continue;
    // Name the namespace only to a caller who may read it; to others an existing id is just taken.
    const visible = denied.find((n) => can(p, n, "read"));
    const where = (ns: string | undefined) => (ns === undefined ? "no namespace" : `namespace ${JSON.stringify(ns)}`);
    out.set(
      id,
      denied.every((n) => can(p, n, "read")) && visible !== undefined
        ? `KEM ${id} exists in ${where(visible)}, which ${p.id} may not ${right}`
        : `KEM id ${id} is taken; use another id`,
    );
  }
  return out;
}

/**
 * Checks that `p` may `right` the existing KEM `id` in namespace `ns`. A caller who may not even
 * read that namespace gets `NotFound`, exactly as for an unknown id, so the answer reveals neither
 * the KEM nor its namespace; a caller who may read it gets `PermissionDenied`.
 * @throws NotFoundError or PermissionError.
 */
export function requireExistingRight(
  p: Principal,
  id: string,
  ns: string | undefined,
  right: Right,
  what: string,
): void {
  if (can(p, ns, right)) return;
  if (!can(p, ns, "read")) throw new NotFoundError(`KEM ${id} not found`);
  requireRight(p, ns, right, what);
}

/**
 * The namespace of a lock or counter name: the part before the first `/` (`"team-a/build"` →
 * `"team-a"`), required when `p` is confined to namespaces.
 * @throws PermissionError when `p` lacks every right in `rights` on that namespace, or the name
 *   has no namespace prefix.
 */
export function requireNameScope(p: Principal, name: string, field: string, rights: Right[]): void {
  if (rights.some((r) => namespacesWith(p, r) === "all")) return;
  const slash = name.indexOf("/");
  const ns = slash > 0 ? name.slice(0, slash) : undefined;
  if (ns === undefined)
    throw new PermissionError(
      `${field} must start with "<namespace>/" (e.g. "${p.defaultNamespace ?? "team"}/${name}") for ${p.id}`,
    );
  if (!rights.some((r) => can(p, ns, r)))
    throw new PermissionError(`${p.id} may not ${rights.join(" or ")} in namespace ${JSON.stringify(ns)} (${field})`);
}
