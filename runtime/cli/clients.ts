/**
 * Connect clients for the CLI (server side, Node/Bun transports): Connect, gRPC-Web or gRPC.
 * @module
 */
import { type Client, createClient, type Transport } from "@connectrpc/connect";
import { GlobalLongTermMemoryService } from "../../sdk/gen/dcsm/v1/glm_service_pb.ts";
import { KnowledgeProcessorService } from "../../sdk/gen/dcsm/v1/kps_service_pb.ts";
import type { AgentProtocol } from "../../sdk/transport.ts";

/** Wire protocol of a client (transports come from `createNodeTransport` in `sdk/server.ts`). */
export type Protocol = AgentProtocol;

/** Typed clients of the DCSM services. */
export interface DcsmClients {
  glm: Client<typeof GlobalLongTermMemoryService>;
  kps: Client<typeof KnowledgeProcessorService>;
}

/** Creates GLM and KPS clients on one transport. */
export function createDcsmClients(transport: Transport): DcsmClients {
  return {
    glm: createClient(GlobalLongTermMemoryService, transport),
    kps: createClient(KnowledgeProcessorService, transport),
  };
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
  const host =
    raw === "0.0.0.0" || raw === "::" || raw === "[::]"
      ? "127.0.0.1"
      : raw.includes(":") && !raw.startsWith("[")
        ? `[${raw}]`
        : raw;
  return `${env.DCSM_TLS_CERT ? "https" : "http"}://${host}:${env.DCSM_HTTP_PORT || "8080"}`;
}
