/**
 * Client transports used by the RPC cases, the way agents make them: Connect (JSON or binary) and
 * gRPC-Web over `fetch` (the SDK's default entry), gRPC over HTTP/2 with connect-node (the SDK's
 * server entry). Bun's HTTP/2 client handles successful unary gRPC calls, which is all the
 * benches issue (its trailers-only error handling, oven-sh/bun#14249, is not exercised).
 * @module
 */
import type { Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-web";
import type { DcsmServer } from "../../runtime/server.ts";

/** The RPC protocols measured. */
export type RpcProtocol = "connect-json" | "connect-binary" | "grpc-web" | "grpc";

/** A transport of `protocol` to `server` (gRPC to its h2c listener, the rest to its HTTP listener). */
export function transportFor(server: DcsmServer, protocol: RpcProtocol): Transport {
  switch (protocol) {
    case "connect-json":
      return createConnectTransport({ baseUrl: server.httpUrl, useBinaryFormat: false });
    case "connect-binary":
      return createConnectTransport({ baseUrl: server.httpUrl, useBinaryFormat: true });
    case "grpc-web":
      return createGrpcWebTransport({ baseUrl: server.httpUrl, useBinaryFormat: true });
    case "grpc":
      return createGrpcTransport({ baseUrl: server.grpcUrl });
  }
}
