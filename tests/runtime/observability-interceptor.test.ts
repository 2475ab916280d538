/**
 * The observability interceptor on its own, over a real socket (`createConnectApp` on `Bun.serve`)
 * with a Health implementation that fails: server faults are counted with their code and logged at
 * error level with the cause, and the request id still comes back.
 */
import { afterAll, expect, test } from "bun:test";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import pino from "pino";
import { Registry } from "prom-client";
import { createConnectApp } from "../../runtime/host/connect-app.ts";
import { createObservabilityInterceptor, pickRequestId } from "../../runtime/observability/rpc-interceptor.ts";
import { createRpcMetrics, protocolOf } from "../../runtime/observability/rpc-metrics.ts";
import { Health, HealthCheckResponse_ServingStatus } from "../../sdk/gen/grpc/health/v1/health_pb.ts";
import { requestId, requestLog } from "../../services/common/request-context.ts";
import { parseMetrics, value } from "../helpers/prometheus.ts";

const lines: Record<string, unknown>[] = [];
const registry = new Registry();
const app = createConnectApp({
  readMaxBytes: 1 << 20,
  interceptors: [
    createObservabilityInterceptor({
      log: pino({ level: "debug" }, { write: (l: string) => void lines.push(JSON.parse(l)) }),
      metrics: createRpcMetrics(registry),
    }),
  ],
  routes: (router) =>
    router.service(Health, {
      check(req, ctx) {
        requestLog(ctx).info({ asked: req.service }, "handler saw its request id");
        if (req.service === "fire") throw new Error("disk on fire");
        if (req.service === "gone") throw new ConnectError("backend down", Code.Unavailable);
        return { status: HealthCheckResponse_ServingStatus.SERVING };
      },
      async *watch(_req, ctx) {
        yield { status: HealthCheckResponse_ServingStatus.SERVING };
        throw new ConnectError(
          `stream broke in ${requestId(ctx)}`,
          Code.Internal,
          undefined,
          undefined,
          new Error("socket reset"),
        );
      },
    }),
});
const http = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: app.fetch });
afterAll(() => http.stop(true));
const health = createClient(
  Health,
  createConnectTransport({ baseUrl: `http://127.0.0.1:${http.port}`, httpVersion: "1.1" }),
);
const metrics = async () => parseMetrics(await registry.metrics());
const labels = (method: string, code: string) => ({
  service: "grpc.health.v1.Health",
  method,
  protocol: "connect",
  code,
});

test("handlers reach the per-request logger and id through the context", async () => {
  await health.check({ service: "ok" }, { headers: { "x-request-id": "ctx-1" } });
  expect(lines.find((l) => l.msg === "handler saw its request id")).toMatchObject({
    reqId: "ctx-1",
    rpc: "grpc.health.v1.Health/Check",
    asked: "ok",
    level: 30,
  });
});

test("an unexpected error is counted as Unknown and logged at error level with its cause", async () => {
  const err = ConnectError.from(
    await health.check({ service: "fire" }, { headers: { "x-request-id": "fire-1" } }).catch((e) => e),
  );
  expect(err.code).toBe(Code.Unknown);
  expect(err.metadata.get("x-request-id")).toBe("fire-1"); // error responses carry it too
  expect(value(await metrics(), "dcsm_rpc_requests_total", labels("Check", "Unknown"))).toBe(1);
  const line = lines.find((l) => l.reqId === "fire-1" && l.msg === "rpc failed") as {
    level: number;
    code: string;
    err: { message: string };
  };
  expect(line).toMatchObject({ level: 50, code: "Unknown" });
  expect(line.err.message).toBe("disk on fire");
});

test("Unavailable is logged at warn; a failing stream is counted with its code at its end", async () => {
  await expect(health.check({ service: "gone" }, { headers: { "x-request-id": "gone-1" } })).rejects.toMatchObject({
    code: Code.Unavailable,
  });
  expect(lines.find((l) => l.reqId === "gone-1" && l.msg === "rpc failed")).toMatchObject({
    level: 40,
    code: "Unavailable",
    message: "backend down",
  });
  const got: number[] = [];
  await expect(
    (async () => {
      for await (const m of health.watch({ service: "" }, { headers: { "x-request-id": "watch-1" } }))
        got.push(m.status);
    })(),
  ).rejects.toMatchObject({ code: Code.Internal, rawMessage: "stream broke in watch-1" });
  expect(got).toEqual([HealthCheckResponse_ServingStatus.SERVING]);
  const m = await metrics();
  expect(value(m, "dcsm_rpc_requests_total", labels("Watch", "Internal"))).toBe(1);
  expect(
    value(m, "dcsm_rpc_in_flight", { service: "grpc.health.v1.Health", method: "Watch", protocol: "connect" }),
  ).toBe(0);
  expect(
    (lines.find((l) => l.reqId === "watch-1" && l.msg === "rpc failed") as { err: { message: string } }).err.message,
  ).toBe("socket reset");
});

test("protocol from content-type; request ids kept only when sane", () => {
  expect(protocolOf("application/grpc-web+proto")).toBe("grpc-web");
  expect(protocolOf("application/grpc-web-text")).toBe("grpc-web");
  expect(protocolOf("application/grpc")).toBe("grpc");
  expect(protocolOf("application/grpc+proto")).toBe("grpc");
  expect(protocolOf("application/json")).toBe("connect");
  expect(protocolOf("application/connect+proto")).toBe("connect");
  expect(protocolOf(null)).toBe("connect");
  expect(pickRequestId("01J5Z-abc:1/2+3=")).toBe("01J5Z-abc:1/2+3=");
  expect(pickRequestId("")).not.toBe("");
  expect(pickRequestId("a b")).not.toBe("a b");
});
