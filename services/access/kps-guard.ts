/**
 * Namespace access control in front of the KPS service (issue 8 "Scopes per key"): the chunks
 * of a document go to one namespace (`initial_metadata.namespace`, defaulting to the caller's),
 * on which the caller needs `write`. KPS derives chunk ids from the namespace and source, and
 * looks up earlier chunks within that namespace only, so tenants ingesting the same path never
 * touch each other's KEMs.
 * @module
 */
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import type { KnowledgeProcessorService } from "../../sdk/gen/dcsm/v1/kps_service_pb.ts";
import { mapErrors } from "../shared/errors.ts";
import { principalOf } from "../shared/access.ts";
import { stampNamespace } from "./scoping.ts";

type Kps = ServiceImpl<typeof KnowledgeProcessorService>;

/**
 * Wraps a KPS implementation with the namespace check of ProcessRawData.
 * Errors: `PermissionDenied` without `write` on the namespace, `InvalidArgument` for a malformed
 * namespace, plus `inner`'s.
 */
export function guardKps(inner: Kps): Kps {
  return {
    processRawData: mapErrors(async (req, ctx: HandlerContext) => {
      req.initialMetadata = stampNamespace(principalOf(ctx), req.initialMetadata, "write", "initial_metadata").metadata;
      return inner.processRawData(req, ctx);
    }),
  };
}
