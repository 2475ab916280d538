/**
 * The outcome of an RPC as a Connect code, for asserting error codes in one line.
 */
import { type Code, ConnectError } from "@connectrpc/connect";

/** Awaits `p`: "ok" when it resolves, else the Connect `Code` it failed with. */
export async function codeOf(p: Promise<unknown>): Promise<Code | "ok"> {
  try {
    await p;
    return "ok";
  } catch (err) {
    return ConnectError.from(err).code;
  }
}
