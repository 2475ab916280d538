/**
 * Namespace access control in front of the GLM service (docs/security.md): every RPC
 * checks the caller's rights on the namespaces it touches before the GLM implementation runs.
 * Callers with a `*` scope (and every caller when authentication is off) pass straight through.
 * @module
 */
import { create } from "@bufbuild/protobuf";
import { Code, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import {
  BatchStoreKEMResultSchema,
  type BatchStoreKEMsResponse,
  type GlobalLongTermMemoryService,
  MetadataUpdateMode,
} from "../../sdk/gen/dcsm/v1/glm_service_pb.ts";
import { NAMESPACE_KEY, namespacesWith, principalOf, requireRight } from "../common/access.ts";
import { mapErrors, PermissionError, toConnectError } from "../common/errors.ts";
import { itemError } from "../common/item-error.ts";
import { batchStoreResponse } from "../glm/batch-response.ts";
import {
  foreignIds,
  type NamespaceLookup,
  namespaceIn,
  type OwnerLookup,
  ownersAcross,
  requireExistingRight,
  scopeQuery,
  stampNamespace,
} from "./scoping.ts";

type Glm = ServiceImpl<typeof GlobalLongTermMemoryService>;

/**
 * Wraps a GLM implementation with namespace checks.
 *
 * - StoreKEM / BatchStoreKEMs: `write` on the KEM's namespace (`metadata.namespace`, defaulting to
 *   the caller's default namespace) and on the namespace of any existing KEM with the same id in
 *   GLM or in SWM (`owners`: one ownership rule for both stores);
 *   in a batch, a denied item gets a `permission_denied` item error and the others are stored.
 * - RetrieveKEMs: `read`, confined to the caller's namespace (see `scopeQuery`).
 * - UpdateKEM / DeleteKEM: `write` on the KEM's namespace, and on the new one when metadata moves it.
 *
 * Errors: `NotFound` for UpdateKEM / DeleteKEM of a KEM in a namespace the caller may not read
 * (as for an unknown id: the answer does not reveal it), `PermissionDenied` otherwise outside
 * scope (without naming namespaces the caller may not read), `InvalidArgument` for a malformed
 * namespace or an unpinned query from a multi-namespace caller, plus everything `inner` raises.
 * @param inner - the GLM implementation. @param lookup - namespaces of existing GLM KEMs by id.
 * @param owners - owners of ids across GLM and SWM. @default GLM's `lookup` only
 */
export function guardGlm(inner: Glm, lookup: NamespaceLookup, owners: OwnerLookup = ownersAcross(lookup)): Glm {
  return {
    storeKEM: mapErrors(async (req, ctx: HandlerContext) => {
      const p = principalOf(ctx);
      if (namespacesWith(p, "write") === "all") return inner.storeKEM(req, ctx);
      if (req.kem) {
        req.kem.metadata = stampNamespace(p, req.kem.metadata, "write").metadata;
        const denied = await foreignIds(p, req.kem.id ? [req.kem.id] : [], "write", owners);
        for (const reason of denied.values()) throw new PermissionError(reason);
      }
      return inner.storeKEM(req, ctx);
    }),

    batchStoreKEMs: mapErrors(async (req, ctx: HandlerContext) => {
      const p = principalOf(ctx);
      if (namespacesWith(p, "write") === "all") return inner.batchStoreKEMs(req, ctx);
      const errors = new Map<number, string>();
      req.kems.forEach((kem, i) => {
        try {
          kem.metadata = stampNamespace(p, kem.metadata, "write", `kems[${i}].metadata`).metadata;
        } catch (err) {
          errors.set(i, toConnectError(err).rawMessage);
        }
      });
      const denied = await foreignIds(
        p,
        req.kems.filter((k, i) => k.id && !errors.has(i)).map((k) => k.id),
        "write",
        owners,
      );
      req.kems.forEach((k, i) => {
        const reason = k.id ? denied.get(k.id) : undefined;
        if (reason && !errors.has(i)) errors.set(i, reason);
      });
      if (errors.size === 0) return inner.batchStoreKEMs(req, ctx);
      // Store the allowed items; report each denied one in its place.
      const keep = req.kems.map((_, i) => i).filter((i) => !errors.has(i));
      // The GLM implementation answers with a created message (`createGlmService`), not a bare init shape.
      const sub =
        keep.length > 0
          ? ((await inner.batchStoreKEMs(
              {
                ...req,
                kems: keep.map((i) => req.kems[i]!),
                idempotencyKeys: req.idempotencyKeys.length > 0 ? keep.map((i) => req.idempotencyKeys[i]!) : [],
              },
              ctx,
            )) as BatchStoreKEMsResponse)
          : undefined;
      const results = req.kems.map((_, index) => create(BatchStoreKEMResultSchema, { index }));
      for (const [i, message] of errors)
        results[i]!.outcome = { case: "error", value: itemError(Code.PermissionDenied, message) };
      for (const r of sub?.results ?? []) results[keep[r.index]!]!.outcome = r.outcome;
      return batchStoreResponse(results, req.kems);
    }),

    retrieveKEMs: mapErrors(async (req, ctx: HandlerContext) => {
      req.query = scopeQuery(principalOf(ctx), req.query, "read").query;
      return inner.retrieveKEMs(req, ctx);
    }),

    updateKEM: mapErrors(async (req, ctx: HandlerContext) => {
      const p = principalOf(ctx);
      if (namespacesWith(p, "write") === "all") return inner.updateKEM(req, ctx);
      const existing = await lookup([req.kemId]);
      if (existing.has(req.kemId)) {
        const ns = existing.get(req.kemId);
        requireExistingRight(p, req.kemId, ns, "write", `UpdateKEM ${req.kemId}`);
        const upd = req.kemDataUpdate;
        const paths = req.updateMask?.paths ?? [];
        const touchesMetadata = upd?.metadata !== undefined && (paths.length === 0 || paths.includes("metadata"));
        if (upd && touchesMetadata) {
          const replace = req.metadataMode === MetadataUpdateMode.REPLACE;
          const given = upd.metadata ?? {};
          if (NAMESPACE_KEY in given) {
            const next = namespaceIn(given, "kem_data_update.metadata");
            if (next === undefined)
              throw new PermissionError(`${p.id} may not remove the namespace of KEM ${req.kemId}`);
            requireRight(p, next, "write", `moving KEM ${req.kemId}`);
          } else if (replace && ns !== undefined) {
            upd.metadata = { ...given, [NAMESPACE_KEY]: ns }; // REPLACE keeps the KEM in its namespace
          }
        }
      }
      return inner.updateKEM(req, ctx);
    }),

    deleteKEM: mapErrors(async (req, ctx: HandlerContext) => {
      const p = principalOf(ctx);
      if (namespacesWith(p, "write") !== "all") {
        const existing = await lookup([req.kemId]);
        if (existing.has(req.kemId))
          requireExistingRight(p, req.kemId, existing.get(req.kemId), "write", `DeleteKEM ${req.kemId}`);
      }
      return inner.deleteKEM(req, ctx);
    }),
  };
}
