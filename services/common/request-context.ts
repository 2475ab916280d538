/**
 * Per-RPC request context shared by the runtime and the services (README "Metrics and logs"): the
 * request id and a child logger that carries it, as Connect context values. The runtime's
 * observability interceptor sets both for every RPC; a service handler reads them with
 * {@link requestLog} and {@link requestId} from its `HandlerContext`.
 * @module
 */
import { type ContextValues, createContextKey } from "@connectrpc/connect";
import pino, { type Logger } from "pino";

/** Logger used when no interceptor set one (unit tests through `createRouterTransport`): discards everything. */
const SILENT: Logger = pino({ level: "silent" });

/** Context key of the per-request child logger (bindings: `reqId`, `rpc`, `protocol`). Default: a silent logger. */
export const requestLogKey = createContextKey<Logger>(SILENT, { description: "dcsm request logger" });

/** Context key of the request id (the `x-request-id` value echoed to the caller). Default: "". */
export const requestIdKey = createContextKey<string>("", { description: "dcsm request id" });

/** Anything carrying Connect context values: a `HandlerContext` or an interceptor request. */
export interface WithContextValues {
  /** The call's context values. */
  readonly values?: ContextValues;
  /** Same, under the name interceptor requests use. */
  readonly contextValues?: ContextValues;
}

function valuesOf(ctx: WithContextValues): ContextValues | undefined {
  return ctx.values ?? ctx.contextValues;
}

/**
 * The per-request child logger of an RPC: every line it writes carries the request id.
 * @param ctx - the handler context (`ctx` argument of a service method).
 * @returns the child logger, or a silent logger when the call did not pass the runtime interceptor.
 */
export function requestLog(ctx: WithContextValues): Logger {
  return valuesOf(ctx)?.get(requestLogKey) ?? SILENT;
}

/**
 * The request id of an RPC (incoming `x-request-id` when sane, else generated).
 * @param ctx - the handler context.
 * @returns the id, or "" when the call did not pass the runtime interceptor.
 */
export function requestId(ctx: WithContextValues): string {
  return valuesOf(ctx)?.get(requestIdKey) ?? "";
}
