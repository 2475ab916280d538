/**
 * The one place a DCSM transport is chosen: protocol, wire format and credentials, whatever
 * Connect runtime builds it (`@connectrpc/connect-web` in the browser-safe entry,
 * `@connectrpc/connect-node` in `sdk/server.ts`, which the CLI and the MCP bridge use too).
 * Browser-safe: no `node:` or `bun:` imports.
 * @module
 */
import type { Interceptor, Transport } from "@connectrpc/connect";
import { bearerAuth } from "./auth.ts";

/** Wire protocols. Browsers, Deno and Bun speak `connect` and `grpc-web` through fetch; `grpc` needs `sdk/server.ts`. */
export type AgentProtocol = "connect" | "grpc-web" | "grpc";

/** What a transport is asked for: where, how, and with which credentials. */
export interface TransportChoice {
  /** Server URL: the gRPC listener for `grpc`, the HTTP listener otherwise (a TLS server takes all on one port). */
  baseUrl?: string;
  /** Protocol; each entry point documents its default. */
  protocol?: AgentProtocol;
  /** Binary protobuf instead of JSON (`connect`, `grpc-web`). @default true */
  useBinaryFormat?: boolean;
  /** API key or JWT sent as `authorization: Bearer` (see `bearerAuth`). @default none */
  token?: string | (() => string | Promise<string>);
}

/** The settings every protocol's transport is built with. */
export interface TransportBase {
  baseUrl: string;
  useBinaryFormat: boolean;
  interceptors: Interceptor[];
}

/** The transport constructors of one Connect runtime; a runtime without gRPC leaves `grpc` out. */
export interface TransportMakers {
  connect(base: TransportBase): Transport;
  grpcWeb(base: TransportBase): Transport;
  grpc?(base: TransportBase): Transport;
}

/**
 * Builds the transport `choice` asks for with `makers`.
 * @param makers - the runtime's constructors.
 * @param choice - URL, protocol, format, token.
 * @param defaultProtocol - protocol when `choice.protocol` is not given.
 * @throws TypeError without `baseUrl`, for an unknown protocol, or for `grpc` where the runtime has none.
 */
export function makeTransport(
  makers: TransportMakers,
  choice: TransportChoice,
  defaultProtocol: AgentProtocol,
): Transport {
  if (!choice.baseUrl) throw new TypeError("createAgentSDK needs baseUrl or transport");
  const base: TransportBase = {
    baseUrl: choice.baseUrl,
    useBinaryFormat: choice.useBinaryFormat ?? true,
    interceptors: choice.token ? [bearerAuth(choice.token)] : [],
  };
  const protocol = choice.protocol ?? defaultProtocol;
  if (protocol === "connect") return makers.connect(base);
  if (protocol === "grpc-web") return makers.grpcWeb(base);
  if (protocol === "grpc" && makers.grpc) return makers.grpc(base);
  if (protocol === "grpc") {
    throw new TypeError(
      `protocol "grpc" is not available in this entry: use createAgentSDK from "sdk/server.ts" for gRPC, or "connect" / "grpc-web"`,
    );
  }
  throw new TypeError(`unknown protocol ${JSON.stringify(protocol)}: use "connect", "grpc-web" or "grpc"`);
}
