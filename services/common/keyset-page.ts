/**
 * One page of KEMs in `updated_at DESC, id DESC` order with a keyset page token: GLM's
 * RetrieveKEMs without a search and SWM's QuerySWM page the same way (docs/storage.md
 * "Response size" for the byte budget).
 * @module
 */
import type { KEM } from "../../sdk/gen/dcsm/v1/kem_pb.ts";
import type { KemRecord, UpdatedCursor } from "../common/kem-record.ts";
import { InvalidInputError } from "./errors.ts";
import { recordToKem } from "./kem-mapping.ts";
import { decodePageToken, encodePageToken } from "./page-token.ts";
import { countWithinBudget } from "./response-budget.ts";

/** What {@link updatedOrderPage} needs. */
export interface UpdatedOrderPageRequest {
  /** The request's `page_token` ("" for the first page). */
  pageToken: string;
  /** Fingerprint of the query (see `fingerprint`): a token made for another query is refused. */
  queryKey: string;
  /** Most KEMs in the page. */
  pageSize: number;
  /** Byte budget of the page (see `countWithinBudget`). */
  maxResponseBytes: number;
  /** Reads up to `limit` matching records strictly after `after`, newest first. */
  read(limit: number, after: UpdatedCursor | undefined): Promise<KemRecord[]>;
}

/**
 * Reads one page: at most `pageSize` records, fewer when the byte budget ends it, and the token
 * of the next page ("" when none is left).
 * @throws InvalidInputError (→ `InvalidArgument`) for a malformed page token or one made for
 *   another query; whatever `read` throws.
 */
export async function updatedOrderPage(req: UpdatedOrderPageRequest): Promise<{ kems: KEM[]; nextPageToken: string }> {
  const cursor = decodePageToken<UpdatedCursor>(req.pageToken, req.queryKey);
  if (cursor && (typeof cursor.id !== "string" || !Number.isSafeInteger(cursor.updatedAtUs))) {
    throw new InvalidInputError("page_token is malformed");
  }
  const rows = await req.read(req.pageSize + 1, cursor);
  const page = rows.slice(0, countWithinBudget(rows, req.pageSize, req.maxResponseBytes));
  const last = page[page.length - 1];
  const next =
    rows.length > page.length && last
      ? encodePageToken({ updatedAtUs: last.updatedAtUs, id: last.id } satisfies UpdatedCursor, req.queryKey)
      : "";
  return { kems: page.map((r) => recordToKem(r)), nextPageToken: next };
}
