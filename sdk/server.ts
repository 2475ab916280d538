/**
 * DCSM Agent SDK, server-only entry (Node, Bun): everything in `sdk/index.ts`, plus gRPC over
 * HTTP/2 and Connect/gRPC-Web over Node's HTTP stack via `@connectrpc/connect-node`.
 * Do not import this file in browsers (it pulls in `node:http2`).
 * @module
 */
import type { Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { type AgentProtocol, AgentSDK, type AgentSDKOptions } from "./agent-sdk.ts";
import { makeTransport, type TransportMakers } from "./transport.ts";

export * from "./index.ts";

/** Options of {@link createNodeTransport}. */
export interface NodeTransportOptions {
  /** Server URL: the gRPC listener (e.g. "http://127.0.0.1:50051") for `grpc`, the HTTP listener otherwise. */
  baseUrl: string;
  /** Protocol. @default "grpc" */
  protocol?: AgentProtocol;
  /** HTTP version for `connect` and `grpc-web` (`grpc` always uses "2"). @default "1.1" */
  httpVersion?: "1.1" | "2";
  /** Binary protobuf (`connect`, `grpc-web`). @default true */
  useBinaryFormat?: boolean;
  /** CA certificate(s), PEM, to trust for an `https://` server with a private or self-signed certificate. */
  ca?: string | Buffer;
  /** API key or JWT sent as `authorization: Bearer` (docs/security.md). @default none */
  token?: string | (() => string | Promise<string>);
}

/**
 * A Node transport (gRPC over HTTP/2, or Connect / gRPC-Web over HTTP/1.1 or 2); `http://` URLs
 * use cleartext (h2c for gRPC), `https://` URLs TLS (a TLS server takes every protocol on one port).
 */
export function createNodeTransport(options: NodeTransportOptions): Transport {
  const nodeOptions = options.ca ? { ca: options.ca } : undefined;
  const httpVersion = options.httpVersion ?? "1.1";
  const makers: TransportMakers = {
    connect: (base) => createConnectTransport({ ...base, httpVersion, nodeOptions }),
    grpcWeb: (base) => createGrpcWebTransport({ ...base, httpVersion, nodeOptions }),
    grpc: (base) => createGrpcTransport({ baseUrl: base.baseUrl, interceptors: base.interceptors, nodeOptions }),
  };
  return makeTransport(makers, options, "grpc");
}

/**
 * Creates an Agent SDK for servers: like the browser entry's `createAgentSDK`, but `protocol`
 * defaults to "grpc" and every protocol runs on `@connectrpc/connect-node`.
 * @throws TypeError without `baseUrl` or `transport`, or for an empty `agentId`.
 */
export function createAgentSDK(
  options: AgentSDKOptions & { httpVersion?: "1.1" | "2"; ca?: string | Buffer },
): AgentSDK {
  if (options.transport) return new AgentSDK(options.transport, options);
  return new AgentSDK(
    createNodeTransport({
      baseUrl: options.baseUrl ?? "",
      protocol: options.protocol,
      httpVersion: options.httpVersion,
      useBinaryFormat: options.useBinaryFormat,
      ca: options.ca,
      token: options.token,
    }),
    options,
  );
}
