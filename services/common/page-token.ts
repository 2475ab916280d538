/**
 * Opaque page tokens: base64url JSON carrying a cursor and a fingerprint of the query, so a token
 * used with a different query is rejected instead of returning a wrong page.
 * @module
 */
import { InvalidInputError } from "./errors.ts";

const enc = new TextEncoder();

/** FNV-1a 32-bit hash of a string, as 8 hex digits (fingerprint, not security). */
export function fingerprint(text: string): string {
  let h = 0x811c9dc5;
  for (const b of enc.encode(text)) {
    h ^= b;
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(16).padStart(8, "0");
}

/**
 * Encodes a cursor object into a page token bound to `queryKey`.
 * @param cursor - JSON-serializable cursor.
 * @param queryKey - fingerprint of the query the cursor belongs to.
 */
export function encodePageToken(cursor: unknown, queryKey: string): string {
  return Buffer.from(JSON.stringify({ q: queryKey, c: cursor })).toString("base64url");
}

/**
 * Decodes a page token made by {@link encodePageToken}.
 * @returns the cursor, or undefined for an empty token.
 * @throws InvalidInputError (→ `InvalidArgument`) for a malformed token or one made for another query.
 */
export function decodePageToken<T>(token: string, queryKey: string): T | undefined {
  if (token === "") return undefined;
  let parsed: { q?: unknown; c?: unknown };
  try {
    parsed = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as { q?: unknown; c?: unknown };
  } catch {
    throw new InvalidInputError("page_token is malformed");
  }
  if (typeof parsed !== "object" || parsed === null || parsed.c === undefined)
    throw new InvalidInputError("page_token is malformed");
  if (parsed.q !== queryKey) throw new InvalidInputError("page_token belongs to a different query");
  return parsed.c as T;
}
