/**
 * Connect clients for the CLI (server side, Node/Bun transports): Connect, gRPC-Web or gRPC.
 * @module
 */
import { createClient, type Client, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { GlobalLongTermMemoryService } from "../../sdk/gen/dcsm/v1/glm_service_pb.ts";
import { KnowledgeProcessorService } from "../../sdk/gen/dcsm/v1/kps_service_pb.ts";

/** Wire protocol of a client. */
export type Protocol = "connect" | "grpc-web" | "grpc";

/** Typed clients of the DCSM services. */
export interface DcsmClients {
  glm: Client<typeof GlobalLongTermMemoryService>;
  kps: Client<typeof KnowledgeProcessorService>;
}

/**
 * Creates a transport. `connect` and `grpc-web` speak HTTP/1.1 to the HTTP listener; `grpc` speaks
 * HTTP/2 to the gRPC listener.
 * @param baseUrl - e.g. "http://127.0.0.1:8080" (or the gRPC URL for `grpc`).
 * @param protocol - wire protocol. @default "connect"
 */
export function createTransport(baseUrl: string, protocol: Protocol = "connect"): Transport {
  switch (protocol) {
    case "grpc":
      return createGrpcTransport({ baseUrl });
    case "grpc-web":
      return createGrpcWebTransport({ baseUrl, httpVersion: "1.1" });
    default:
      return createConnectTransport({ baseUrl, httpVersion: "1.1" });
  }
}

/** Creates GLM and KPS clients on one transport. */
export function createDcsmClients(transport: Transport): DcsmClients {
  return { glm: createClient(GlobalLongTermMemoryService, transport), kps: createClient(KnowledgeProcessorService, transport) };
}
