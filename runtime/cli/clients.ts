/**
 * Connect clients for the CLI (server side, Node/Bun transports): Connect, gRPC-Web or gRPC.
 * @module
 */
import { createClient, type Client, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { GlobalLongTermMemoryService } from "../../sdk/gen/dcsm/v1/glm_service_pb.ts";
import { KnowledgeProcessorService } from "../../sdk/gen/dcsm/v1/kps_service_pb.ts";
import { bearerAuth } from "../../sdk/auth.ts";

/** Wire protocol of a client. */
export type Protocol = "connect" | "grpc-web" | "grpc";

/** Typed clients of the DCSM services. */
export interface DcsmClients {
  glm: Client<typeof GlobalLongTermMemoryService>;
  kps: Client<typeof KnowledgeProcessorService>;
}

/**
 * Creates a transport. `connect` and `grpc-web` speak HTTP/1.1 to the HTTP listener; `grpc` speaks
 * HTTP/2 to the gRPC listener (a TLS server serves all three on its one `https://` port).
 * @param baseUrl - e.g. "http://127.0.0.1:8080" (or the gRPC URL for `grpc`), or "https://…".
 * @param protocol - wire protocol. @default "connect"
 * @param ca - PEM CA certificate(s) to trust for `https://` (private or self-signed certificates).
 * @param token - API key or JWT sent as `authorization: Bearer` (docs/security.md).
 */
export function createTransport(baseUrl: string, protocol: Protocol = "connect", ca?: string | Buffer, token?: string): Transport {
  const nodeOptions = ca ? { ca } : undefined;
  const interceptors = token ? [bearerAuth(token)] : [];
  switch (protocol) {
    case "grpc":
      return createGrpcTransport({ baseUrl, nodeOptions, interceptors });
    case "grpc-web":
      return createGrpcWebTransport({ baseUrl, httpVersion: "1.1", nodeOptions, interceptors });
    default:
      return createConnectTransport({ baseUrl, httpVersion: "1.1", nodeOptions, interceptors });
  }
}

/** Creates GLM and KPS clients on one transport. */
export function createDcsmClients(transport: Transport): DcsmClients {
  return { glm: createClient(GlobalLongTermMemoryService, transport), kps: createClient(KnowledgeProcessorService, transport) };
}

/**
 * The DCSM a client command talks to when `--url` is not given: `DCSM_URL`, else the server the
 * same environment would start (`DCSM_HOST`, `DCSM_HTTP_PORT`; `https` when `DCSM_TLS_CERT` is
 * set), so `DCSM_HTTP_PORT=18282 dcsm serve` and `DCSM_HTTP_PORT=18282 dcsm search …` meet. A
 * wildcard host (0.0.0.0, ::) is reached on loopback.
 * @param env - the environment (default `process.env`).
 */
export function clientUrlFromEnv(env: Record<string, string | undefined> = process.env): string {
  if (env.DCSM_URL) return env.DCSM_URL;
  const raw = env.DCSM_HOST || "127.0.0.1";
  const host = raw === "0.0.0.0" || raw === "::" || raw === "[::]" ? "127.0.0.1" : raw.includes(":") && !raw.startsWith("[") ? `[${raw}]` : raw;
  return `${env.DCSM_TLS_CERT ? "https" : "http"}://${host}:${env.DCSM_HTTP_PORT || "8080"}`;
}
