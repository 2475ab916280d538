/**
 * Client transports of the three wire protocols to a test server, as the protocol matrices of the
 * end-to-end tests use them: Connect (JSON) and gRPC-Web over HTTP/1.1 to the HTTP listener, gRPC
 * over HTTP/2 to the gRPC listener, each with the caller's bearer token when given.
 */
import type { Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { bearerAuth } from "../../sdk/auth.ts";

/** The protocols every DCSM listener pair serves. */
export const PROTOCOLS = ["connect", "grpc-web", "grpc"] as const;

/** One of {@link PROTOCOLS}. */
export type Protocol = (typeof PROTOCOLS)[number];

/**
 * A transport to `server` over `protocol`.
 * @param server - its HTTP (Connect, gRPC-Web) and gRPC listener URLs.
 * @param token - API key or JWT sent as `authorization: Bearer`; none when absent.
 */
export function transportTo(
  server: { httpUrl: string; grpcUrl: string },
  protocol: Protocol,
  token?: string,
): Transport {
  const interceptors = token ? [bearerAuth(token)] : [];
  if (protocol === "grpc") return createGrpcTransport({ baseUrl: server.grpcUrl, interceptors });
  if (protocol === "grpc-web")
    return createGrpcWebTransport({ baseUrl: server.httpUrl, httpVersion: "1.1", interceptors });
  return createConnectTransport({ baseUrl: server.httpUrl, httpVersion: "1.1", interceptors });
}
