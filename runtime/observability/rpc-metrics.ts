/**
 * Per-RPC Prometheus metrics (README "Metrics and logs"): request counts, latency histograms and
 * calls in flight, labelled by service, method, protocol and Connect code name.
 * @module
 */
import { Counter, Gauge, Histogram, type Registry } from "prom-client";

/** Wire protocol of an RPC, from its request `content-type`. */
export type RpcProtocol = "connect" | "grpc-web" | "grpc";

/**
 * Latency buckets in seconds: 0.5 ms … 60 s (unary calls sit in the low buckets; event streams,
 * timed over their whole life, in the high ones).
 */
export const RPC_DURATION_BUCKETS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
];

/**
 * The protocol of an RPC from its request `content-type`: `application/grpc-web…` is gRPC-Web,
 * `application/grpc…` is gRPC, anything else (`application/json`, `application/proto`,
 * `application/connect+…`, or none for Connect GET) is Connect.
 * @param contentType - the request `content-type` header value, or null.
 */
export function protocolOf(contentType: string | null): RpcProtocol {
  const ct = (contentType ?? "").trimStart().toLowerCase();
  if (ct.startsWith("application/grpc-web")) return "grpc-web";
  if (ct.startsWith("application/grpc")) return "grpc";
  return "connect";
}

/** Labels identifying one RPC. */
export interface RpcLabels {
  /** Fully qualified service name, e.g. "dcsm.v1.GlobalLongTermMemoryService". */
  service: string;
  /** Method name as in the .proto file, e.g. "StoreKEM". */
  method: string;
  /** Wire protocol. */
  protocol: RpcProtocol;
}

/** The RPC metrics of one server. */
export interface RpcMetrics {
  /** Marks an RPC as started (`dcsm_rpc_in_flight` +1). */
  started(labels: RpcLabels): void;
  /**
   * Records a finished RPC: `dcsm_rpc_requests_total` +1, `dcsm_rpc_duration_seconds` observes
   * `seconds`, `dcsm_rpc_in_flight` −1.
   * @param code - Connect code name ("OK" on success, e.g. "InvalidArgument", "Canceled").
   * @param seconds - wall time from the call entering the interceptor to its end, in seconds.
   */
  finished(labels: RpcLabels, code: string, seconds: number): void;
}

/**
 * Registers the RPC metrics on `registry`:
 * - `dcsm_rpc_requests_total{service,method,protocol,code}` (counter): finished RPCs;
 * - `dcsm_rpc_duration_seconds{service,method,protocol,code}` (histogram, {@link RPC_DURATION_BUCKETS});
 * - `dcsm_rpc_in_flight{service,method,protocol}` (gauge): RPCs started and not finished (open streams).
 * @throws Error when metrics with these names are already registered on `registry`.
 */
export function createRpcMetrics(registry: Registry): RpcMetrics {
  const labelNames = ["service", "method", "protocol", "code"] as const;
  const requests = new Counter({
    name: "dcsm_rpc_requests_total",
    help: "Finished RPCs by service, method, protocol and Connect code (streams count when they end).",
    labelNames,
    registers: [registry],
  });
  const duration = new Histogram({
    name: "dcsm_rpc_duration_seconds",
    help: "RPC latency in seconds (streams: whole stream life).",
    labelNames,
    buckets: RPC_DURATION_BUCKETS,
    registers: [registry],
  });
  const inFlight = new Gauge({
    name: "dcsm_rpc_in_flight",
    help: "RPCs started and not yet finished (including open streams).",
    labelNames: ["service", "method", "protocol"],
    registers: [registry],
  });
  return {
    started(l) {
      inFlight.inc({ service: l.service, method: l.method, protocol: l.protocol });
    },
    finished(l, code, seconds) {
      const labels = { service: l.service, method: l.method, protocol: l.protocol, code };
      requests.inc(labels);
      duration.observe(labels, seconds);
      inFlight.dec({ service: l.service, method: l.method, protocol: l.protocol });
    },
  };
}
