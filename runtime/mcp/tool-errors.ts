/**
 * Failures of DCSM calls as MCP tool errors: a `CallToolResult` with `isError: true` whose text
 * names the Connect code (https://connectrpc.com/docs/protocol/#error-codes), says what it means
 * for the agent and carries the server's message, so a model can correct its input or retry
 * instead of the MCP session failing (MCP spec, "Tools" → "Error Handling").
 * @module
 */
import { Code, ConnectError } from "@connectrpc/connect";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { codeName } from "../../sdk/code-names.ts";
import { EmbeddingError } from "./dcsm-link.ts";

/** What each Connect code means for an agent calling a DCSM tool. */
const MEANING: Record<Code, string> = {
  [Code.Canceled]: "the call was cancelled",
  [Code.Unknown]: "the server failed in an unknown way",
  [Code.InvalidArgument]: "the input is invalid; correct it and call again",
  [Code.DeadlineExceeded]: "the call took too long; retry later",
  [Code.NotFound]: "no such memory, lock or counter",
  [Code.AlreadyExists]: "it already exists",
  [Code.PermissionDenied]: "these credentials may not do this in that namespace",
  [Code.ResourceExhausted]: "a limit was reached (size, count or queue); make the request smaller or retry later",
  [Code.FailedPrecondition]: "the server is not in a state to do this",
  [Code.Aborted]: "the operation was aborted by a conflict; retry",
  [Code.OutOfRange]: "a value is out of range",
  [Code.Unimplemented]: "this server does not support the operation",
  [Code.Internal]: "the server failed internally",
  [Code.Unavailable]: "DCSM is temporarily unavailable; retry shortly",
  [Code.DataLoss]: "data was lost or corrupted",
  [Code.Unauthenticated]: "credentials are missing, unknown or expired",
};

/** Connect code of an HTTP status from `/v1/embeddings`. */
function codeOfStatus(status: number): Code {
  if (status === 400 || status === 413) return Code.InvalidArgument;
  if (status === 401) return Code.Unauthenticated;
  if (status === 403) return Code.PermissionDenied;
  if (status === 429) return Code.ResourceExhausted;
  if (status === 503) return Code.Unavailable;
  return Code.Internal;
}

/**
 * A tool error result for any thrown value: `ConnectError`s keep their code, embedding endpoint
 * failures map their HTTP status, anything else is `internal`.
 * @returns `{ isError: true, content: [text "DCSM error <code> (<meaning>): <message>"] }`; no
 *   `structuredContent`, which MCP clients would check against the tool's success output schema.
 */
export function toolError(err: unknown): CallToolResult {
  let code: Code;
  let message: string;
  if (err instanceof ConnectError) {
    code = err.code;
    message = err.rawMessage;
  } else if (err instanceof EmbeddingError) {
    code = codeOfStatus(err.status);
    message = err.message;
  } else {
    code = Code.Internal;
    message = err instanceof Error ? err.message : String(err);
  }
  const name = codeName(code);
  const meaning = MEANING[code] ?? "";
  return {
    isError: true,
    content: [{ type: "text", text: `DCSM error ${name} (${meaning}): ${message}` }],
  };
}
