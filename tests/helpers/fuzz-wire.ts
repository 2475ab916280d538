/**
 * Low-level clients for the wire fuzz test: one request each over HTTP/1.1 fetch (Connect,
 * gRPC-Web), HTTP/2 (`node:http2`, raw gRPC frames) and raw `node:net` sockets, every one with a
 * timeout; and the judges that decide whether a response is a proper error for its protocol.
 */
import { afterAll, beforeAll } from "bun:test";
import { type ClientHttp2Session, connect as h2connect } from "node:http2";
import { connect as tcpConnect } from "node:net";
import type { DcsmServer } from "../../runtime/server.ts";
import { startTestServer } from "./server.ts";
import { removeTempDirs } from "./temp-dir.ts";

/** What came back for one request; `hang` when nothing arrived before the timeout. */
export interface WireResult {
  /** HTTP status, 0 when the connection closed without a response. */
  status: number;
  /** Response headers (lower-case names). */
  headers: Record<string, string>;
  /** HTTP/2 trailers (gRPC). */
  trailers: Record<string, string>;
  /** Response body. */
  body: Uint8Array;
  /** True when the timeout expired first. */
  hang?: boolean;
  /** A client-side failure (connection reset, refused request), if any. */
  error?: string;
}

/** A gRPC length-prefixed message: flag byte, 4-byte big-endian length, payload. */
export function envelope(payload: Uint8Array, declaredLength = payload.length, flags = 0): Uint8Array {
  const out = new Uint8Array(5 + payload.length);
  out[0] = flags;
  new DataView(out.buffer).setUint32(1, declaredLength >>> 0);
  out.set(payload, 5);
  return out;
}

/**
 * POSTs `body` with `contentType` over HTTP/1.1 fetch.
 * @param timeoutMs - per-request timeout; on expiry the result has `hang: true`.
 */
export async function fetchPost(
  url: string,
  contentType: string,
  body: Uint8Array,
  timeoutMs: number,
): Promise<WireResult> {
  try {
    const res = await fetch(url, {
      method: "POST",
      headers: { "content-type": contentType },
      body: body as BodyInit,
      signal: AbortSignal.timeout(timeoutMs),
    });
    const bytes = new Uint8Array(await res.arrayBuffer());
    return { status: res.status, headers: Object.fromEntries(res.headers), trailers: {}, body: bytes };
  } catch (err) {
    const e = err as Error;
    if (e.name === "TimeoutError" || e.name === "AbortError")
      return { status: 0, headers: {}, trailers: {}, body: new Uint8Array(), hang: true };
    return { status: 0, headers: {}, trailers: {}, body: new Uint8Array(), error: `${e.name}: ${e.message}` };
  }
}

/**
 * Sends one HTTP/2 POST on `session` (gRPC framing is the caller's: pass enveloped bytes).
 * @param timeoutMs - per-request timeout; the stream is reset and the result has `hang: true`.
 */
export function h2Post(
  session: ClientHttp2Session,
  path: string,
  contentType: string,
  body: Uint8Array,
  timeoutMs: number,
): Promise<WireResult> {
  return new Promise((resolve) => {
    const out: WireResult = { status: 0, headers: {}, trailers: {}, body: new Uint8Array() };
    const chunks: Buffer[] = [];
    let done = false;
    const finish = (extra: Partial<WireResult> = {}) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve({ ...out, body: new Uint8Array(Buffer.concat(chunks)), ...extra });
    };
    const timer = setTimeout(() => {
      stream.close();
      finish({ hang: true });
    }, timeoutMs);
    const stream = session.request({ ":method": "POST", ":path": path, "content-type": contentType, te: "trailers" });
    stream.on("response", (h) => {
      out.status = Number(h[":status"]);
      for (const [k, v] of Object.entries(h)) if (!k.startsWith(":")) out.headers[k] = String(v);
    });
    stream.on("trailers", (t) => {
      for (const [k, v] of Object.entries(t)) out.trailers[k] = String(v);
    });
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("end", () => finish());
    stream.on("close", () => finish());
    stream.on("error", (err) => finish({ error: `${err.name}: ${err.message}` }));
    stream.end(body);
  });
}

/** Opens an HTTP/2 cleartext session to `url` (e.g. the gRPC listener). */
export function h2Session(url: string): Promise<ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const s = h2connect(url);
    s.once("connect", () => resolve(s));
    s.once("error", reject);
  });
}

/**
 * Writes raw bytes to a fresh TCP connection, half-closes it, and collects whatever comes back.
 * @returns the parsed status line (0 if none) and the raw response; `hang` on timeout.
 */
export function rawHttp(
  host: string,
  port: number,
  request: Uint8Array,
  timeoutMs: number,
): Promise<WireResult & { raw: string }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let done = false;
    const sock = tcpConnect(port, host);
    const finish = (extra: Partial<WireResult> = {}) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      const raw = Buffer.concat(chunks).toString("latin1");
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(raw);
      resolve({
        status: m ? Number(m[1]) : 0,
        headers: {},
        trailers: {},
        body: new Uint8Array(Buffer.concat(chunks)),
        raw,
        ...extra,
      });
    };
    const timer = setTimeout(() => finish({ hang: true }), timeoutMs);
    sock.on("data", (c: Buffer) => {
      chunks.push(c);
      // One response is enough: stop once the status line and headers are in.
      if (Buffer.concat(chunks).includes("\r\n\r\n")) setTimeout(() => finish(), 20);
    });
    sock.on("end", () => finish());
    sock.on("close", () => finish());
    sock.on("error", (err) => finish({ error: err.message }));
    sock.write(request, () => sock.end());
  });
}

/** Connect error codes (the protocol's JSON names). */
export const CONNECT_CODES = new Set([
  "canceled",
  "unknown",
  "invalid_argument",
  "deadline_exceeded",
  "not_found",
  "already_exists",
  "permission_denied",
  "resource_exhausted",
  "failed_precondition",
  "aborted",
  "out_of_range",
  "unimplemented",
  "internal",
  "unavailable",
  "data_loss",
  "unauthenticated",
]);
/** Codes bad input must never produce (gRPC numbers): UNKNOWN, INTERNAL, DATA_LOSS. */
export const FORBIDDEN_GRPC = new Set([2, 13, 15]);
/** The same codes by Connect name. */
export const FORBIDDEN_CONNECT = new Set(["unknown", "internal", "data_loss"]);
/** HTTP statuses acceptable for non-RPC garbage: bad request, not found, method, type, size, headers. */
const NON_RPC_STATUSES = new Set([400, 404, 405, 411, 413, 415, 431, 505]);

/** gRPC status (and message) from trailers, trailers-only headers, or a gRPC-Web trailer frame. */
export function grpcStatusOf(r: WireResult): { code: number; message: string } | undefined {
  const from = (h: Record<string, string>) =>
    h["grpc-status"] === undefined
      ? undefined
      : { code: Number(h["grpc-status"]), message: decodeURIComponent(h["grpc-message"] ?? "") };
  const direct = from(r.trailers) ?? from(r.headers);
  if (direct) return direct;
  // gRPC-Web: frames in the body; the trailer frame has flag 0x80 and holds "name: value" lines.
  let at = 0;
  while (at + 5 <= r.body.length) {
    const len = new DataView(r.body.buffer, r.body.byteOffset + at + 1, 4).getUint32(0);
    if (r.body[at]! & 0x80) {
      const text = new TextDecoder().decode(r.body.subarray(at + 5, at + 5 + len));
      const h: Record<string, string> = {};
      for (const line of text.split("\r\n")) {
        const i = line.indexOf(":");
        if (i > 0) h[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
      }
      return from(h);
    }
    at += 5 + len;
  }
  return undefined;
}

/**
 * Judges one response: undefined when it is acceptable, else a description of what is wrong.
 * Acceptable: a success; a protocol error with a known code other than unknown/internal/data_loss
 * (Connect error JSON, or a gRPC status 0–16); or a 4xx from {@link NON_RPC_STATUSES} for garbage
 * that is not an RPC (wrong content type, malformed HTTP).
 */
export function judge(protocol: "connect" | "grpc-web" | "grpc", r: WireResult): string | undefined {
  if (r.hang) return "no response before the timeout";
  if (r.error) return `client error: ${r.error}`;
  if (protocol === "connect") {
    if (r.status === 200) return undefined;
    if ((r.headers["content-type"] ?? "").startsWith("application/json")) {
      let err: { code?: unknown; message?: unknown };
      try {
        err = JSON.parse(new TextDecoder().decode(r.body));
      } catch {
        return `status ${r.status} with a body that is not JSON`;
      }
      if (typeof err.code !== "string" || !CONNECT_CODES.has(err.code))
        return `status ${r.status} with unknown code ${JSON.stringify(err.code)}`;
      if (FORBIDDEN_CONNECT.has(err.code)) return `code ${err.code}: ${String(err.message)}`;
      return undefined;
    }
    return NON_RPC_STATUSES.has(r.status) ? undefined : `status ${r.status} without a Connect error body`;
  }
  if (r.status !== 200) return NON_RPC_STATUSES.has(r.status) ? undefined : `HTTP status ${r.status}`;
  const st = grpcStatusOf(r);
  if (!st) return "no grpc-status";
  if (!Number.isInteger(st.code) || st.code < 0 || st.code > 16) return `invalid grpc-status ${st.code}`;
  if (FORBIDDEN_GRPC.has(st.code)) return `grpc-status ${st.code}: ${st.message}`;
  return undefined;
}

/**
 * Starts one server for the calling test file (request bodies bounded by `maxMessageBytes`) and an
 * HTTP/2 session to its gRPC listener before its tests, and closes both (and the temp folders)
 * after them. `onReady` receives them.
 */
export function fuzzServerPerFile(
  maxMessageBytes: number,
  onReady: (server: DcsmServer, h2: ClientHttp2Session) => void,
): void {
  let server: DcsmServer | undefined;
  let h2: ClientHttp2Session | undefined;
  beforeAll(async () => {
    server = await startTestServer({ maxMessageBytes });
    h2 = await h2Session(server.grpcUrl);
    onReady(server, h2);
  });
  afterAll(async () => {
    h2?.close();
    await server?.close();
    removeTempDirs();
  });
}
