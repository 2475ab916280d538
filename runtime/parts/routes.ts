/**
 * The Connect routes both listeners serve: GLM, KPS and SWM each behind its namespace guard, and
 * `grpc.health.v1.Health` over a status registry that stays NOT_SERVING until the server is ready.
 * @module
 */
import type { ConnectRouter, ServiceImpl } from "@connectrpc/connect";
import { GlobalLongTermMemoryService } from "../../sdk/gen/dcsm/v1/glm_service_pb.ts";
import { KnowledgeProcessorService } from "../../sdk/gen/dcsm/v1/kps_service_pb.ts";
import { SharedWorkingMemoryService } from "../../sdk/gen/dcsm/v1/swm_service_pb.ts";
import { Health } from "../../sdk/gen/grpc/health/v1/health_pb.ts";
import { NAMESPACE_KEY } from "../../services/common/access.ts";
import type { KemStore } from "../../services/glm/ports.ts";
import { guardGlm } from "../../services/guards/glm-guard.ts";
import { guardKps } from "../../services/guards/kps-guard.ts";
import { type NamespaceLookup, ownersAcross } from "../../services/guards/scoping.ts";
import { guardSwm } from "../../services/guards/swm-guard.ts";
import type { DcsmConfig } from "../config.ts";
import { createHealthRegistry, createHealthService, type HealthRegistry, ServingStatus } from "../host/health.ts";
import { glmNamespaceLookup, type SwmRuntime } from "../swm.ts";
import type { StartedPart } from "./part-stack.ts";
import type { GlmPart } from "./services.ts";

/** Names of the services the health registry reports on (besides the whole server, ""). */
export const SERVICE_NAMES = [
  GlobalLongTermMemoryService.typeName,
  KnowledgeProcessorService.typeName,
  SharedWorkingMemoryService.typeName,
];

/** The routes and the health registry. */
export interface ServiceRoutes {
  /** Registers the guarded services and Health on a Connect router. */
  routes: (router: ConnectRouter) => void;
  /** Serving status of the server and of each service. */
  health: HealthRegistry;
}

/** What the routes are built over. */
export interface RouteDeps {
  /** GLM in this process and the transport SWM reaches GLM with. */
  glm: GlmPart;
  /** KPS. */
  kps: ServiceImpl<typeof KnowledgeProcessorService>;
  /** SWM (its service and working set). */
  swm: SwmRuntime;
  /** GLM's page limit (remote namespace lookups page by it). */
  maxPageSize: number;
}

/**
 * Builds the routes. One ownership rule for both stores: an id owned in GLM or in SWM is written
 * only by a principal with the right on that namespace (StoreKEM, BatchStoreKEMs,
 * PublishKEMToSWM; LoadKEMsFromGLM and write-behind re-check it in the SWM service and worker).
 * Callers with `*` scopes pass the guards straight through. Nothing to stop.
 */
export function startRoutes(config: DcsmConfig, deps: RouteDeps): StartedPart<ServiceRoutes> {
  const health = createHealthRegistry(SERVICE_NAMES);
  const healthImpl = createHealthService(health, { maxWatchers: config.healthMaxWatchers });
  const glmNamespaces = storeNamespaces(deps.glm.glm.store);
  // The GLM that SWM loads from and writes behind to: this process's, or the remote DCSM_GLM_URL.
  const swmGlmNamespaces: NamespaceLookup = config.glmUrl
    ? glmNamespaceLookup(deps.glm.transport, deps.maxPageSize)
    : glmNamespaces;
  const swmNamespaces: NamespaceLookup = async (ids) =>
    new Map((await deps.swm.backend.workingSet.get(ids)).map((r) => [r.id, namespaceOf(r.metadata)]));
  const routes = (router: ConnectRouter) => {
    router.service(
      GlobalLongTermMemoryService,
      guardGlm(deps.glm.glm.service, glmNamespaces, ownersAcross(glmNamespaces, swmNamespaces)),
    );
    router.service(KnowledgeProcessorService, guardKps(deps.kps));
    router.service(
      SharedWorkingMemoryService,
      guardSwm(deps.swm.service, ownersAcross(swmGlmNamespaces, swmNamespaces)),
    );
    router.service(Health, healthImpl);
  };
  return { value: { routes, health } };
}

/**
 * Marks the server and every service SERVING; stopping (its drain, first in teardown) marks them
 * NOT_SERVING again, so health checks fail before the listeners stop.
 */
export function startServing(health: HealthRegistry): StartedPart<void> {
  const setAll = (s: ServingStatus) => {
    health.set("", s);
    for (const name of SERVICE_NAMES) health.set(name, s);
  };
  setAll(ServingStatus.SERVING);
  return { value: undefined, drain: async () => setAll(ServingStatus.NOT_SERVING) };
}

/** Namespaces of the KEMs `store` holds, by id. */
function storeNamespaces(store: KemStore): NamespaceLookup {
  return async (ids) => new Map((await store.getMany(ids)).map((r) => [r.id, namespaceOf(r.metadata)]));
}

/** `metadata.namespace` when it is a string. */
function namespaceOf(metadata: { [key: string]: unknown } | undefined): string | undefined {
  const v = metadata?.[NAMESPACE_KEY];
  return typeof v === "string" ? v : undefined;
}
