/**
 * A gRPC call over HTTP/2 that declares a large message and sends only its start, for checking
 * that the server answers (refuses) from the headers without waiting for the rest of the body.
 */
import { type ClientHttp2Session, connect, type SecureClientSessionOptions } from "node:http2";

/** What {@link grpcPartial} sends. */
export interface GrpcPartialRequest {
  /** `http://…` or `https://…` origin of the server. */
  url: string;
  /** RPC path, e.g. `/dcsm.v1.GlobalLongTermMemoryService/StoreKEM`. */
  path: string;
  /** Length of the whole gRPC envelope the length prefix declares, bytes (prefix included). */
  envelopeBytes: number;
  /** Bytes of message body actually sent after the 5-byte prefix. */
  sendBytes: number;
  /** How long to wait for the response headers, ms. */
  timeoutMs: number;
  /** TLS options (a test CA) for an `https` URL. */
  tls?: SecureClientSessionOptions;
}

/**
 * Sends gRPC request headers and the first `sendBytes` of an `envelopeBytes` envelope (no
 * credentials), then waits for the response headers and closes the session.
 * @returns the response headers (`:status`, `grpc-status` when the server refuses at once, …).
 * @throws Error when no response headers arrive within `timeoutMs` (the session is destroyed).
 */
export function grpcPartial(req: GrpcPartialRequest): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const session: ClientHttp2Session = connect(req.url, req.tls);
    session.on("error", () => {});
    const timer = setTimeout(() => {
      session.destroy();
      reject(new Error(`no gRPC response within ${req.timeoutMs} ms`));
    }, req.timeoutMs);
    const stream = session.request({
      ":method": "POST",
      ":path": req.path,
      "content-type": "application/grpc",
      te: "trailers",
    });
    stream.on("error", () => {});
    stream.on("response", (headers) => {
      clearTimeout(timer);
      session.destroy();
      resolve(headers as Record<string, unknown>);
    });
    const prefix = Buffer.alloc(5);
    prefix.writeUInt32BE(req.envelopeBytes - 5, 1);
    stream.write(Buffer.concat([prefix, Buffer.alloc(req.sendBytes, 0x61)]));
  });
}
