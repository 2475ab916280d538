/**
 * Standard gRPC health checking (`grpc.health.v1.Health`) for both listeners, backed by a small
 * status registry the server flips to SERVING once its services (and the model) are ready.
 * @module
 */
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import {
  type Health,
  HealthCheckResponseSchema,
  HealthCheckResponse_ServingStatus as ServingStatus,
} from "../../sdk/gen/grpc/health/v1/health_pb.ts";

/** Serving status of the server ("" key) and of each named service. */
export interface HealthRegistry {
  /** Sets the status of `service` ("" = whole server) and wakes watchers. */
  set(service: string, status: ServingStatus): void;
  /** Current status, or undefined for an unknown service. */
  get(service: string): ServingStatus | undefined;
  /** Resolves on the next status change of any service, or when `signal` aborts. */
  changed(signal: AbortSignal): Promise<void>;
}

/**
 * Creates a registry with every name in `services` (and "") at NOT_SERVING.
 * @param services - fully qualified service names.
 */
export function createHealthRegistry(services: string[]): HealthRegistry {
  const status = new Map<string, ServingStatus>([["", ServingStatus.NOT_SERVING]]);
  for (const s of services) status.set(s, ServingStatus.NOT_SERVING);
  let waiters: (() => void)[] = [];
  return {
    set(service, s) {
      status.set(service, s);
      const w = waiters;
      waiters = [];
      for (const fn of w) fn();
    },
    get: (service) => status.get(service),
    changed(signal) {
      return new Promise<void>((resolve) => {
        if (signal.aborted) return resolve();
        waiters.push(resolve);
        signal.addEventListener("abort", () => resolve(), { once: true });
      });
    },
  };
}

/**
 * The `grpc.health.v1.Health` implementation over a {@link HealthRegistry}.
 * `Check` of an unknown service fails with `Code.NotFound` (per the gRPC health spec);
 * `Watch` streams the status now and on every change, SERVICE_UNKNOWN for unknown services; at most
 * `maxWatchers` streams are open at once (the service needs no credentials), more fail with
 * `Code.ResourceExhausted`.
 * @param options - `maxWatchers` (default 64).
 */
export function createHealthService(
  registry: HealthRegistry,
  options: { maxWatchers?: number } = {},
): ServiceImpl<typeof Health> {
  const maxWatchers = options.maxWatchers ?? 64;
  let watchers = 0;
  return {
    async check(req) {
      const s = registry.get(req.service);
      if (s === undefined) throw new ConnectError(`unknown service ${JSON.stringify(req.service)}`, Code.NotFound);
      return create(HealthCheckResponseSchema, { status: s });
    },
    async *watch(req, ctx) {
      if (watchers >= maxWatchers)
        throw new ConnectError(
          `${maxWatchers} health Watch streams are open, the limit of this server; use Check or retry later`,
          Code.ResourceExhausted,
        );
      watchers++;
      try {
        let last: ServingStatus | undefined;
        while (!ctx.signal.aborted) {
          const s = registry.get(req.service) ?? ServingStatus.SERVICE_UNKNOWN;
          if (s !== last) {
            last = s;
            yield create(HealthCheckResponseSchema, { status: s });
          }
          await registry.changed(ctx.signal);
        }
      } finally {
        watchers--;
      }
    },
  };
}

export { ServingStatus };
