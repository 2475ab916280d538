/**
 * Namespace access control in front of the SWM service (docs/security.md). Event streams
 * are filtered inside the SWM service itself (it reads the principal from the call context, so
 * other tenants' events never take buffer space); everything else is checked here.
 * @module
 */
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import type { SharedWorkingMemoryService } from "../../sdk/gen/dcsm/v1/swm_service_pb.ts";
import { namespacesWith, principalOf, requireRight } from "../common/access.ts";
import { mapErrors, PermissionError } from "../common/errors.ts";
import { foreignIds, namespaceIn, type OwnerLookup, requireNameScope, scopeQuery, stampNamespace } from "./scoping.ts";

type Swm = ServiceImpl<typeof SharedWorkingMemoryService>;

/**
 * Wraps an SWM implementation with namespace checks.
 *
 * - PublishKEMToSWM: `publish` on the KEM's namespace and on every existing KEM with that id (in SWM and in GLM);
 *   with `persist_to_glm_if_new_or_updated` also `write` there (persisting writes GLM).
 * - QuerySWM: `read`, confined like GLM queries. LoadKEMsFromGLM: `read` and `publish` on the namespace
 *   loaded (the service skips ids SWM holds in a namespace the caller may not publish to).
 * - SubscribeToSWMEvents: `subscribe` on at least one namespace (events are filtered by the service).
 * - Locks and counters: names are `<namespace>/<name>`; `lock` on that namespace (GetLockInfo and
 *   GetCounter also accept `read`).
 *
 * Errors: `PermissionDenied` outside scope, `InvalidArgument` as for GLM, plus `inner`'s.
 * @param inner - the SWM implementation. @param owners - owners of existing KEM ids in SWM and GLM.
 */
export function guardSwm(inner: Swm, owners: OwnerLookup): Swm {
  return {
    publishKEMToSWM: mapErrors(async (req, ctx: HandlerContext) => {
      const p = principalOf(ctx);
      const kem = req.kemToPublish;
      if (namespacesWith(p, "publish") !== "all" && kem) {
        kem.metadata = stampNamespace(p, kem.metadata, "publish").metadata;
        const denied = await foreignIds(p, kem.id ? [kem.id] : [], "publish", owners);
        for (const reason of denied.values()) throw new PermissionError(reason);
      }
      // Persisting writes GLM: it needs `write` there too, on the KEM's namespace and on every owner of its id.
      if (req.persistToGlmIfNewOrUpdated && kem && namespacesWith(p, "write") !== "all") {
        requireRight(
          p,
          namespaceIn(kem.metadata, "kem_to_publish.metadata"),
          "write",
          "persist_to_glm_if_new_or_updated",
        );
        const denied = await foreignIds(p, kem.id ? [kem.id] : [], "write", owners);
        for (const reason of denied.values()) throw new PermissionError(reason);
      }
      return inner.publishKEMToSWM(req, ctx);
    }),

    subscribeToSWMEvents(req, ctx: HandlerContext) {
      const p = principalOf(ctx);
      const ns = namespacesWith(p, "subscribe");
      if (ns !== "all" && ns.length === 0) throw new PermissionError(`${p.id} may not subscribe to any namespace`);
      return inner.subscribeToSWMEvents(req, ctx);
    },

    querySWM: mapErrors(async (req, ctx: HandlerContext) => {
      req.query = scopeQuery(principalOf(ctx), req.query, "read").query;
      return inner.querySWM(req, ctx);
    }),

    loadKEMsFromGLM: mapErrors(async (req, ctx: HandlerContext) => {
      const p = principalOf(ctx);
      const scoped = scopeQuery(p, req.queryForGlm, "read");
      if (namespacesWith(p, "publish") !== "all") requireRight(p, scoped.namespace, "publish", "LoadKEMsFromGLM");
      req.queryForGlm = scoped.query;
      return inner.loadKEMsFromGLM(req, ctx);
    }),

    acquireLock: mapErrors(async (req, ctx: HandlerContext) => {
      requireNameScope(principalOf(ctx), req.resourceId, "resource_id", ["lock"]);
      return inner.acquireLock(req, ctx);
    }),
    releaseLock: mapErrors(async (req, ctx: HandlerContext) => {
      requireNameScope(principalOf(ctx), req.resourceId, "resource_id", ["lock"]);
      return inner.releaseLock(req, ctx);
    }),
    getLockInfo: mapErrors(async (req, ctx: HandlerContext) => {
      requireNameScope(principalOf(ctx), req.resourceId, "resource_id", ["lock", "read"]);
      return inner.getLockInfo(req, ctx);
    }),
    incrementCounter: mapErrors(async (req, ctx: HandlerContext) => {
      requireNameScope(principalOf(ctx), req.counterId, "counter_id", ["lock"]);
      return inner.incrementCounter(req, ctx);
    }),
    getCounter: mapErrors(async (req, ctx: HandlerContext) => {
      requireNameScope(principalOf(ctx), req.counterId, "counter_id", ["lock", "read"]);
      return inner.getCounter(req, ctx);
    }),
  };
}
