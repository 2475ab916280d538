/**
 * Namespace access control in front of the KPS service (docs/security.md): the chunks
 * of a document go to one namespace (`initial_metadata.namespace`, defaulting to the caller's),
 * on which the caller needs `write`. KPS derives chunk ids from the namespace and source, and
 * looks up earlier chunks within that namespace only, so tenants ingesting the same path never
 * touch each other's KEMs.
 * @module
 */

import { create } from "@bufbuild/protobuf";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import {
  BatchProcessRawDataResponseSchema,
  type BatchProcessRawDataResult,
  BatchProcessRawDataResultSchema,
  type KnowledgeProcessorService,
  type ProcessRawDataRequest,
} from "../../sdk/gen/dcsm/v1/kps_service_pb.ts";
import { principalOf } from "../common/access.ts";
import { mapErrors } from "../common/errors.ts";
import { itemErrorOf } from "../common/item-error.ts";
import { stampNamespace } from "./scoping.ts";

type Kps = ServiceImpl<typeof KnowledgeProcessorService>;

/**
 * Wraps a KPS implementation with the namespace check of ProcessRawData.
 * Errors: `PermissionDenied` without `write` on the namespace, `InvalidArgument` for a malformed
 * namespace, plus `inner`'s. `BatchProcessRawData` checks every document the same way and reports
 * a refused document as its own per-item error; the others are processed.
 */
export function guardKps(inner: Kps): Kps {
  return {
    processRawData: mapErrors(async (req, ctx: HandlerContext) => {
      req.initialMetadata = stampNamespace(principalOf(ctx), req.initialMetadata, "write", "initial_metadata").metadata;
      return inner.processRawData(req, ctx);
    }),
    batchProcessRawData: mapErrors(async (req, ctx: HandlerContext) => {
      const principal = principalOf(ctx);
      const refused = new Map<number, BatchProcessRawDataResult>();
      const allowed: { index: number; doc: ProcessRawDataRequest }[] = [];
      req.documents.forEach((doc, index) => {
        try {
          doc.initialMetadata = stampNamespace(
            principal,
            doc.initialMetadata,
            "write",
            `documents[${index}].initial_metadata`,
          ).metadata;
          allowed.push({ index, doc });
        } catch (err) {
          refused.set(
            index,
            create(BatchProcessRawDataResultSchema, { index, outcome: { case: "error", value: itemErrorOf(err) } }),
          );
        }
      });
      if (refused.size === 0) return inner.batchProcessRawData(req, ctx);
      const res = create(
        BatchProcessRawDataResponseSchema,
        allowed.length > 0
          ? await inner.batchProcessRawData({ ...req, documents: allowed.map((a) => a.doc) }, ctx)
          : {},
      );
      const results = req.documents.map((_, index) => refused.get(index)!);
      for (let j = 0; j < res.results.length; j++) {
        const index = allowed[j]!.index;
        results[index] = { ...res.results[j]!, index };
      }
      return create(BatchProcessRawDataResponseSchema, { results });
    }),
  };
}
