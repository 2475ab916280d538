/**
 * The options of the Agent SDK (connection, identity, local memory, retries, timeouts, token) and
 * of its calls, the outcome of its batch calls, and the fetch-based transport it builds from
 * `baseUrl`. Browser-safe: no `node:` or `bun:` imports.
 * @module
 */
import type { ConnectError, Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-web";
import type { KEM } from "./gen/dcsm/v1/kem_pb.ts";
import type { LocalAgentMemoryOptions } from "./local-agent-memory.ts";
import type { RetryOptions } from "./retry.ts";
import { type AgentProtocol, makeTransport, type TransportMakers } from "./transport.ts";

/** Options of `createAgentSDK` (agent-sdk.ts). Give `baseUrl` (with `protocol`) or a ready `transport`. */
export interface AgentSDKOptions {
  /** Server URL of the Connect / gRPC-Web listener, e.g. "http://127.0.0.1:8080". */
  baseUrl?: string;
  /** A ready Connect transport (e.g. from `sdk/server.ts` for gRPC); wins over `baseUrl`. */
  transport?: Transport;
  /** Protocol used with `baseUrl`. @default "connect" */
  protocol?: AgentProtocol;
  /** Binary protobuf instead of JSON on `connect`. @default true */
  useBinaryFormat?: boolean;
  /** This agent's id: owner of its locks, source of its events. Non-empty, at most 256 characters. */
  agentId: string;
  /** Local memory: capacity and indexed metadata keys. @default { maxEntries: 1000, indexedKeys: [] } */
  lpa?: LocalAgentMemoryOptions;
  /** Retry policy for idempotent calls (see `withRetries`). @default DEFAULT_RETRY */
  retry?: Partial<RetryOptions>;
  /** Called before each retry. */
  onRetry?: (err: ConnectError, method: string) => void;
  /** Timeout of each call including its retries, ms; 0 means none. @default 30000 */
  defaultTimeoutMs?: number;
  /** `fetch` used by the built-in transports. @default globalThis.fetch */
  fetch?: typeof globalThis.fetch;
  /** API key or JWT sent as `authorization: Bearer` by the built-in transports (docs/security.md). @default none */
  token?: string | (() => string | Promise<string>);
}

/** Per-call options. */
export interface CallOptions {
  /** Cancels the call (`Canceled`). */
  signal?: AbortSignal;
  /** Overrides the default timeout, ms (`DeadlineExceeded` past it). */
  timeoutMs?: number;
}

/** Outcome of a batch: items that worked, and the ones that did not with their error. */
export interface BatchOutcome {
  /** Stored or published KEMs, in request order (with ids and server timestamps). */
  kems: KEM[];
  /** Failed items: their index in the request and the error (its `code` is a Connect `Code`). */
  failed: { index: number; error: ConnectError }[];
}

/**
 * Builds the transport for `baseUrl` and `protocol` with fetch (browsers, Deno, Bun, Node ≥ 18).
 * @throws TypeError for `grpc` (use `sdk/server.ts`) or a missing `baseUrl`.
 */
export function createFetchTransport(
  options: Pick<AgentSDKOptions, "baseUrl" | "protocol" | "useBinaryFormat" | "fetch" | "token">,
): Transport {
  const { fetch } = options;
  const makers: TransportMakers = {
    connect: (base) => createConnectTransport({ ...base, fetch }),
    grpcWeb: (base) => createGrpcWebTransport({ ...base, fetch }),
  };
  return makeTransport(makers, options, "connect");
}
