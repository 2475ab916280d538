/**
 * Reports undecodable requests as `InvalidArgument` instead of `Internal` on every protocol.
 *
 * connect-es 2.2.0 answers a request whose protobuf bytes do not parse ("parse binary: premature
 * EOF", "illegal tag", invalid UTF-8 in a string field, …) and an envelope flagged compressed
 * without a `grpc-encoding` with `Code.Internal` (HTTP 500 on the Connect protocol), while the
 * same mistake in JSON is already `InvalidArgument`. Found by tests/e2e/fuzz.test.ts. Parsing
 * runs before interceptors, so the status is corrected on the way out: the Connect unary error
 * body, the gRPC trailers, or the gRPC-Web trailer frame. Only those exact messages are touched;
 * real internal errors stay `Internal`.
 * @module
 */
import type { ConnectRouter } from "@connectrpc/connect";
import type { UniversalHandler, UniversalServerResponse } from "@connectrpc/connect/protocol";

/** Messages connect-es gives to undecodable client input, raised as `Code.Internal`. */
const BAD_INPUT = /^(parse binary: |received compressed envelope, but do not know how to decompress)/;
const GRPC_INTERNAL = "13";
const GRPC_INVALID_ARGUMENT = "3";
const TRAILER_FLAG = 0x80;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

function isBadInputMessage(grpcMessage: string | null): boolean {
  if (!grpcMessage) return false;
  try {
    return BAD_INPUT.test(decodeURIComponent(grpcMessage));
  } catch {
    return false;
  }
}

/** Rewrites gRPC trailers in place: status 13 with a bad-input message becomes 3. */
function fixTrailers(trailer: Headers): void {
  if (trailer.get("grpc-status") === GRPC_INTERNAL && isBadInputMessage(trailer.get("grpc-message"))) {
    trailer.set("grpc-status", GRPC_INVALID_ARGUMENT);
  }
}

/** Rewrites one gRPC-Web trailer frame (flag 0x80, uncompressed) if it carries a bad-input 13. */
function fixGrpcWebTrailerFrame(chunk: Uint8Array): Uint8Array {
  if (chunk.length < 5 || chunk[0] !== TRAILER_FLAG) return chunk;
  const view = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  if (view.getUint32(1) !== chunk.length - 5) return chunk;
  const text = decoder.decode(chunk.subarray(5));
  const lines = text.split("\r\n");
  const status = lines.findIndex((l) => /^grpc-status:\s*13\s*$/i.test(l));
  const message = lines.find((l) => /^grpc-message:/i.test(l));
  if (status < 0 || !isBadInputMessage(message ? message.slice(message.indexOf(":") + 1).trim() : null)) return chunk;
  lines[status] = `grpc-status: ${GRPC_INVALID_ARGUMENT}`;
  const data = encoder.encode(lines.join("\r\n"));
  const out = new Uint8Array(5 + data.length);
  out[0] = TRAILER_FLAG;
  new DataView(out.buffer).setUint32(1, data.length);
  out.set(data, 5);
  return out;
}

async function* fixStream(
  res: UniversalServerResponse,
  body: AsyncIterable<Uint8Array>,
  grpcWeb: boolean,
): AsyncGenerator<Uint8Array> {
  for await (const chunk of body) yield grpcWeb ? fixGrpcWebTrailerFrame(chunk) : chunk;
  // gRPC writes trailers after the body: they hold the final status by now.
  if (res.trailer) fixTrailers(res.trailer);
}

async function readAll(body: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const c of body) chunks.push(c);
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
}

async function* once(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}

/**
 * Wraps a connect-es universal handler so that undecodable requests are answered
 * `InvalidArgument` (HTTP 400 with `{"code":"invalid_argument"}` on the Connect protocol,
 * `grpc-status: 3` on gRPC and gRPC-Web) instead of `Internal`; messages are kept.
 * @param handler - a handler from `createConnectRouter(...).handlers`.
 * @returns a handler with the same properties (path, method, protocols).
 */
export function withBadRequestStatus(handler: UniversalHandler): UniversalHandler {
  const wrapped = async (req: Parameters<UniversalHandler>[0]): Promise<UniversalServerResponse> => {
    const res = await handler(req);
    if (res.header) fixTrailers(res.header); // gRPC "trailers-only" responses carry the status in headers
    if (!res.body) return res;
    const contentType = res.header?.get("content-type") ?? "";
    if (res.status === 500 && contentType.startsWith("application/json")) {
      // Connect unary error: a small JSON body.
      const bytes = await readAll(res.body);
      let err: { code?: unknown; message?: unknown } | undefined;
      try {
        err = JSON.parse(decoder.decode(bytes));
      } catch {
        err = undefined;
      }
      if (err?.code === "internal" && typeof err.message === "string" && BAD_INPUT.test(err.message)) {
        res.header?.delete("content-length");
        return {
          ...res,
          status: 400,
          body: once(encoder.encode(JSON.stringify({ ...err, code: "invalid_argument" }))),
        };
      }
      return { ...res, body: once(bytes) };
    }
    if (res.status === 200 && contentType.startsWith("application/grpc")) {
      return { ...res, body: fixStream(res, res.body, contentType.startsWith("application/grpc-web")) };
    }
    return res;
  };
  return Object.assign(wrapped, {
    protocolNames: handler.protocolNames,
    service: handler.service,
    method: handler.method,
    requestPath: handler.requestPath,
    allowedMethods: handler.allowedMethods,
    supportedContentType: handler.supportedContentType,
  });
}

/**
 * Wraps a route registration so every handler it registers goes through
 * {@link withBadRequestStatus}; used by both listeners (HTTP and gRPC).
 * @param routes - the service registration.
 * @returns a registration with the same services and corrected bad-input statuses.
 */
export function withBadRequestStatusRoutes(routes: (router: ConnectRouter) => void): (router: ConnectRouter) => void {
  return (router) => {
    const before = router.handlers.length;
    routes(router);
    for (let i = before; i < router.handlers.length; i++)
      router.handlers[i] = withBadRequestStatus(router.handlers[i]!);
  };
}
