/**
 * Connect error codes by name, in the snake_case spelling of the Connect protocol's error `code`
 * field (https://connectrpc.com/docs/protocol#error-codes), e.g. `Code.InvalidArgument` ↔
 * "invalid_argument". DCSM uses these names in `ItemError.code` of batch results, in MCP tool
 * errors and in the web console. Both directions derive from `@connectrpc/connect`'s `Code` enum,
 * so no list of names is kept here. Browser-safe: no `node:` or `bun:` imports.
 * @module
 */
import { Code } from "@connectrpc/connect";

/**
 * The protocol name of a Connect code.
 * @param code - a Connect `Code`.
 * @returns e.g. "invalid_argument"; "unknown" for a number that is no `Code`.
 */
export function codeName(code: Code): string {
  const name = Code[code];
  if (typeof name !== "string") return "unknown";
  return name.replace(/([a-z])([A-Z])/g, "$1_$2").toLowerCase();
}

let byName: Map<string, Code> | undefined;

/**
 * The Connect code of a protocol name (the inverse of {@link codeName}).
 * @param name - e.g. "permission_denied".
 * @returns the `Code`; `Code.Unknown` for a name that is none.
 */
export function codeFromName(name: string): Code {
  byName ??= new Map(
    Object.values(Code)
      .filter((c): c is Code => typeof c === "number")
      .map((c) => [codeName(c), c]),
  );
  return byName.get(name) ?? Code.Unknown;
}
