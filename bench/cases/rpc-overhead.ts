/**
 * RPC overhead: unary echo-sized calls (`grpc.health.v1.Health/Check`, a few bytes each way) on a
 * real DCSM server per protocol — Connect JSON, Connect binary and gRPC-Web over `fetch`, gRPC over
 * h2c (connect-node) — against a bare `Bun.serve` handler answering a POST of the same size with
 * the same client style (`fetch`) and concurrency (64 in flight). The ratio is the share of the
 * bare HTTP request rate the RPC stack keeps.
 * @module
 */
import { createClient } from "@connectrpc/connect";
import { Health, HealthCheckResponse_ServingStatus } from "../../sdk/gen/grpc/health/v1/health_pb.ts";
import { benchServer } from "../lib/fixtures.ts";
import { compareRuns, pool } from "../lib/measure.ts";
import type { BenchResult } from "../lib/stats.ts";
import { type RpcProtocol, transportFor } from "../lib/transports.ts";
import { IN_FLIGHT } from "./swm.ts";

/** Calls per repeat. */
const N = 6000;

/** `rpc.unary/*` against `rpc.bare/bun-serve`. */
export async function benchRpcOverhead(): Promise<BenchResult[]> {
  const { server } = await benchServer("memory");
  const reply = new Uint8Array([8, 1]); // a HealthCheckResponse{status: SERVING} sized body
  const bare = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    development: false,
    async fetch(req) {
      await req.arrayBuffer();
      return new Response(reply, { headers: { "content-type": "application/proto" } });
    },
  });
  try {
    const url = `http://127.0.0.1:${bare.port}/grpc.health.v1.Health/Check`;
    const body = new Uint8Array(0);
    const bareCall = async () => {
      const res = await fetch(url, { method: "POST", headers: { "content-type": "application/proto" }, body });
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
    };
    const protocols: RpcProtocol[] = ["connect-json", "connect-binary", "grpc-web", "grpc"];
    const clients = protocols.map((p) => [p, createClient(Health, transportFor(server, p))] as const);
    return await compareRuns(
      { name: "rpc.bare/bun-serve", run: () => pool(N, IN_FLIGHT, bareCall) },
      clients.map(([p, c]) => ({
        name: `rpc.unary/${p}`,
        target: p === "connect-binary" ? 0.5 : undefined,
        run: () =>
          pool(N, IN_FLIGHT, async () => {
            const r = await c.check({ service: "" });
            if (r.status !== HealthCheckResponse_ServingStatus.SERVING) throw new Error("not serving");
          }),
      })),
    );
  } finally {
    await bare.stop(true);
  }
}
