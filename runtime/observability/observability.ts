/**
 * Observability of one DCSM server (README "Metrics and logs"): a Prometheus registry with the per-RPC metrics,
 * the stats-backed metrics and the process metrics, the server interceptor that feeds them, and the
 * `/metrics` response. One registry per server, so several servers in one process (tests) do not
 * share counters.
 * @module
 */
import type { Interceptor } from "@connectrpc/connect";
import { collectDefaultMetrics, Registry } from "prom-client";
import type { Logger } from "../logger.ts";
import { createObservabilityInterceptor } from "./rpc-interceptor.ts";
import { createRpcMetrics, type RpcMetrics } from "./rpc-metrics.ts";
import { registerStatMetrics, type StatSources } from "./stat-gauges.ts";

/** Options of {@link createObservability}. */
export interface ObservabilityOptions extends StatSources {
  /** Process logger (parent of the per-request loggers). */
  log: Logger;
  /** Also export prom-client's process metrics (`process_*`, `nodejs_*`). @default true */
  processMetrics?: boolean;
}

/** The observability of one server. */
export interface Observability {
  /** The server interceptor: push it first (outermost) into the listeners' interceptors. */
  interceptor: Interceptor;
  /** The RPC metrics the interceptor feeds. */
  rpc: RpcMetrics;
  /** The registry, for extra metrics. */
  registry: Registry;
  /**
   * Renders every metric in the Prometheus text format (version 0.0.4).
   * @returns a 200 response, or 500 with the error message when a metric fails to collect.
   */
  metricsResponse(): Promise<Response>;
}

/**
 * Creates the registry, registers every metric on it and builds the interceptor.
 * @param options - logger, components to read at scrape time, process metrics switch.
 */
export function createObservability(options: ObservabilityOptions): Observability {
  const registry = new Registry();
  if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry });
  const rpc = createRpcMetrics(registry);
  registerStatMetrics(registry, options, options.log);
  return {
    interceptor: createObservabilityInterceptor({ log: options.log, metrics: rpc }),
    rpc,
    registry,
    async metricsResponse() {
      try {
        const body = await registry.metrics();
        return new Response(body, {
          status: 200,
          headers: { "content-type": registry.contentType, "cache-control": "no-store" },
        });
      } catch (err) {
        options.log.warn({ err }, "metrics: scrape failed");
        return new Response(`metrics collection failed: ${(err as Error).message}\n`, {
          status: 500,
          headers: { "content-type": "text/plain; charset=utf-8" },
        });
      }
    },
  };
}
