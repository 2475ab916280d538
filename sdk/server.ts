/**
 * DCSM Agent SDK, server-only entry (Node, Bun): everything in `sdk/index.ts`, plus gRPC over
 * HTTP/2 and Connect/gRPC-Web over Node's HTTP stack via `@connectrpc/connect-node`.
 * Do not import this file in browsers (it pulls in `node:http2`).
 * @module
 */
import type { Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { AgentSDK, type AgentProtocol, type AgentSDKOptions } from "./agent-sdk.ts";

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
}

/** A Node transport (gRPC over h2c, or Connect / gRPC-Web over HTTP/1.1 or 2). */
export function createNodeTransport(options: NodeTransportOptions): Transport {
  const protocol = options.protocol ?? "grpc";
  if (protocol === "grpc") return createGrpcTransport({ baseUrl: options.baseUrl });
  const o = { baseUrl: options.baseUrl, httpVersion: options.httpVersion ?? "1.1", useBinaryFormat: options.useBinaryFormat ?? true } as const;
  return protocol === "connect" ? createConnectTransport(o) : createGrpcWebTransport(o);
}

/**
 * Creates an Agent SDK for servers: like the browser entry's `createAgentSDK`, but `protocol`
 * defaults to "grpc" and every protocol runs on `@connectrpc/connect-node`.
 * @throws TypeError without `baseUrl` or `transport`, or for an empty `agentId`.
 */
export function createAgentSDK(options: AgentSDKOptions & { httpVersion?: "1.1" | "2" }): AgentSDK {
  if (options.transport) return new AgentSDK(options.transport, options);
  if (!options.baseUrl) throw new TypeError("createAgentSDK needs baseUrl or transport");
  return new AgentSDK(createNodeTransport({ baseUrl: options.baseUrl, protocol: options.protocol, httpVersion: options.httpVersion, useBinaryFormat: options.useBinaryFormat }), options);
}
