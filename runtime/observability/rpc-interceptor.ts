/**
 * The observability server interceptor (README "Metrics and logs"): request ids, per-request child loggers, one log
 * line per finished RPC, and the per-RPC metrics. It must be the outermost interceptor so it sees
 * (and counts) the errors of the ones inside it, such as authentication.
 * @module
 */
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { requestIdKey, requestLogKey } from "../../services/common/request-context.ts";
import type { Logger } from "../logger.ts";
import { protocolOf, type RpcLabels, type RpcMetrics } from "./rpc-metrics.ts";

/** Header carrying the request id, in both directions. */
export const REQUEST_ID_HEADER = "x-request-id";

/** Incoming ids are kept when they are 1–128 characters of `[A-Za-z0-9._:+/=-]`; others are replaced. */
const SANE_REQUEST_ID = /^[A-Za-z0-9._:+/=-]{1,128}$/;

/** Codes that mean the server failed (logged at error with the cause). */
const SERVER_FAULTS = new Set([Code.Internal, Code.Unknown, Code.DataLoss]);

/**
 * The request id for a call: the incoming `x-request-id` when sane, else a new random UUID.
 * @param incoming - the header value, or null.
 */
export function pickRequestId(incoming: string | null): string {
  return incoming !== null && SANE_REQUEST_ID.test(incoming) ? incoming : crypto.randomUUID();
}

/** Options of {@link createObservabilityInterceptor}. */
export interface ObservabilityInterceptorOptions {
  /** Process logger; each RPC gets a child with `reqId`, `rpc` ("service/Method") and `protocol`. */
  log: Logger;
  /** Where finished RPCs are counted. */
  metrics: RpcMetrics;
}

/**
 * Creates the interceptor. For every RPC it:
 * - picks the request id ({@link pickRequestId}) and echoes it in the `x-request-id` response
 *   header (on errors: in the error metadata, i.e. headers or trailers by protocol);
 * - sets the `requestIdKey` and `requestLogKey` context values (`services/common/request-context.ts`);
 * - counts the call in {@link RpcMetrics} with the Connect code name ("OK", "InvalidArgument", …);
 * - logs one line when it ends: debug for success and client errors, warn for `Unavailable`,
 *   error (with the cause) for `Internal`, `Unknown` and `DataLoss`.
 *
 * Unary calls end when the handler returns or throws. Streaming calls are counted when the stream
 * ends, timed over their whole life: "OK" when it completes, the error's code when it fails, and
 * "Canceled" when the caller went away first (request aborted, or the consumer stopped reading).
 * Calls refused before interceptors run (malformed or oversized requests, unknown methods) are not
 * seen here.
 */
export function createObservabilityInterceptor(options: ObservabilityInterceptorOptions): Interceptor {
  const { metrics } = options;
  return (next) => async (req) => {
    const t0 = performance.now();
    const reqId = pickRequestId(req.header.get(REQUEST_ID_HEADER));
    const labels: RpcLabels = {
      service: req.service.typeName,
      method: req.method.name,
      protocol: protocolOf(req.header.get("content-type")),
    };
    const log = options.log.child({ reqId, rpc: `${labels.service}/${labels.method}`, protocol: labels.protocol });
    req.contextValues.set(requestIdKey, reqId).set(requestLogKey, log);
    metrics.started(labels);
    let done = false;
    const finish = (err: ConnectError | undefined) => {
      if (done) return;
      done = true;
      const ms = performance.now() - t0;
      const code = err ? Code[err.code] : "OK";
      metrics.finished(labels, code, ms / 1000);
      const fields = { code, durationMs: Math.round(ms * 1000) / 1000 };
      if (!err) log.debug(fields, "rpc done");
      else if (SERVER_FAULTS.has(err.code))
        log.error(
          { ...fields, err: err.cause instanceof Error ? err.cause : err, message: err.rawMessage },
          "rpc failed",
        );
      else if (err.code === Code.Unavailable) log.warn({ ...fields, message: err.rawMessage }, "rpc failed");
      else log.debug({ ...fields, message: err.rawMessage }, "rpc failed");
    };
    const fail = (e: unknown): ConnectError => {
      const err = ConnectError.from(e);
      err.metadata.set(REQUEST_ID_HEADER, reqId);
      finish(err);
      return err;
    };
    let res: Awaited<ReturnType<typeof next>>;
    try {
      res = await next(req);
    } catch (e) {
      throw fail(e);
    }
    res.header.set(REQUEST_ID_HEADER, reqId);
    if (!res.stream) {
      finish(undefined);
      return res;
    }
    const source = res.message;
    const canceled = () => new ConnectError("stream closed by the caller", Code.Canceled);
    async function* observed() {
      try {
        for await (const m of source) yield m;
        finish(req.signal.aborted ? canceled() : undefined);
      } catch (e) {
        if (req.signal.aborted) finish(canceled());
        throw fail(e);
      } finally {
        finish(canceled());
      }
    }
    return { ...res, message: observed() };
  };
}
