/**
 * The per-item error of batch RPCs (`dcsm.v1.ItemError`): a Connect code name and a message, so
 * one bad item does not fail the whole batch (proto/dcsm/v1/glm_service.proto).
 * @module
 */
import { create } from "@bufbuild/protobuf";
import type { Code } from "@connectrpc/connect";
import { codeName } from "../../sdk/code-names.ts";
import { type ItemError, ItemErrorSchema } from "../../sdk/gen/dcsm/v1/glm_service_pb.ts";
import { toConnectError } from "./errors.ts";

/**
 * An `ItemError` with `code` and `message`.
 * @param code - Connect code, written by its protocol name ("invalid_argument", …).
 * @param message - what was wrong with the item.
 */
export function itemError(code: Code, message: string): ItemError {
  return create(ItemErrorSchema, { code: codeName(code), message });
}

/**
 * The `ItemError` of a thrown value, mapped as the RPC itself would answer it ({@link toConnectError}).
 * @param err - any thrown value.
 */
export function itemErrorOf(err: unknown): ItemError {
  const ce = toConnectError(err);
  return itemError(ce.code, ce.rawMessage);
}
