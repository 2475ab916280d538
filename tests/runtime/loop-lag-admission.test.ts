/**
 * Admission by event-loop lag and the hosts' fast refusal, on this process's real event loop: a
 * synchronous busy stretch (what a long loop turn is) makes the monitor report congestion and
 * admission refuse every call with `ResourceExhausted` and `retry-after`; a short burst does not;
 * the loop coming back on time ends it. The fast refusal answers only unary RPC paths, in the
 * request's protocol, leaves browsers (Origin) and open services to the ordinary path, and keeps
 * the connection only for small declared bodies. (Over real sockets: tests/e2e/admission.test.ts.)
 */
import { afterEach, describe, expect, test } from "bun:test";
import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import { createAdmission } from "../../runtime/host/admission.ts";
import { createFastRefusal } from "../../runtime/host/fast-refusal.ts";
import { type LoopLagMonitor, startLoopLagMonitor } from "../../runtime/host/loop-lag.ts";
import { SharedWorkingMemoryService } from "../../sdk/gen/dcsm/v1/swm_service_pb.ts";
import { Health } from "../../sdk/gen/grpc/health/v1/health_pb.ts";

const LIMITS = { maxInFlight: 4, maxInFlightPerPrincipal: 2, retryAfterSeconds: 3 };
const monitors: LoopLagMonitor[] = [];
afterEach(() => {
  for (const m of monitors.splice(0)) m.stop();
});

function monitor(targetMs: number, intervalMs: number): LoopLagMonitor {
  const m = startLoopLagMonitor({ targetMs, intervalMs, sampleMs: 2 });
  monitors.push(m);
  return m;
}

/** Keeps the event loop busy for `ms` (one long synchronous turn). */
function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

/** Resolves once `cond` holds (checked every loop turn), or rejects after `ms`. */
async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) throw new Error("condition not reached");
    await Bun.sleep(1);
  }
}

/** Waits for two ticks of the monitor (its state then reflects an idle loop). */
const settle = () => Bun.sleep(10);

describe("event-loop lag monitor", () => {
  test("a turn longer than the interval is congestion at once, in the same turn; the next on-time tick ends it", async () => {
    const m = monitor(20, 100);
    await settle();
    expect(m.congested()).toBe(false);
    busy(150);
    expect(m.lagMs()).toBeGreaterThanOrEqual(140); // the overdue tick counts already
    expect(m.congested()).toBe(true);
    await until(() => !m.congested());
    expect(m.lagMs()).toBeLessThan(20);
  });

  test("a burst above the target but shorter than the interval is not congestion", async () => {
    const m = monitor(20, 300);
    await settle();
    busy(50);
    expect(m.congested()).toBe(false);
    await settle();
    expect(m.congested()).toBe(false);
    expect(m.congestions()).toBe(0);
  });

  test("ticks late by more than the target for the whole interval, in several turns, are congestion", async () => {
    const m = monitor(10, 60);
    await settle();
    // Turns of 25 ms with a short gap: every tick comes about 25 ms late.
    for (let i = 0; i < 6 && !m.congested(); i++) {
      busy(25);
      await Bun.sleep(0);
    }
    expect(m.congested()).toBe(true);
    expect(m.congestions()).toBe(1);
  });

  test("settings out of range are refused", () => {
    expect(() => startLoopLagMonitor({ targetMs: 0 })).toThrow(RangeError);
    expect(() => startLoopLagMonitor({ targetMs: 10, sampleMs: 0 })).toThrow(RangeError);
    expect(() => startLoopLagMonitor({ targetMs: 10, intervalMs: 1, sampleMs: 5 })).toThrow(RangeError);
  });
});

describe("admission with a lag monitor", () => {
  test("while the loop is congested every call is refused ResourceExhausted with retry-after, counted apart; then admitted again", async () => {
    const m = monitor(20, 100);
    const admission = createAdmission(LIMITS, m);
    await settle();
    const ok = admission.enter("p");
    expect(ok).toBeFunction();
    busy(150);
    const refused = admission.enter("q");
    expect(refused).toBeInstanceOf(ConnectError);
    expect((refused as ConnectError).code).toBe(Code.ResourceExhausted);
    expect((refused as ConnectError).metadata.get("retry-after")).toBe("3");
    expect(admission.busy()).toBe(true);
    expect(admission.refuseEarly()?.code).toBe(Code.ResourceExhausted);
    expect(admission.stats()).toMatchObject({
      inFlight: 1,
      refusedCongested: 2,
      refusedProcess: 0,
      refusedPrincipal: 0,
    });
    await until(() => !m.congested());
    expect(admission.busy()).toBe(false);
    expect(admission.refuseEarly()).toBeUndefined();
    expect(admission.enter("q")).toBeFunction();
    (ok as () => void)();
  });

  test("refuseEarly reports a full process without a principal, and the per-principal bound still needs enter", () => {
    const admission = createAdmission(LIMITS);
    const a1 = admission.enter("a");
    const a2 = admission.enter("a");
    expect(admission.enter("a")).toBeInstanceOf(ConnectError); // per principal
    expect(admission.refuseEarly()).toBeUndefined();
    admission.enter("b");
    admission.enter("b");
    expect(admission.busy()).toBe(true);
    expect(admission.refuseEarly()?.rawMessage).toContain("4 calls in progress");
    expect(admission.stats()).toMatchObject({ inFlight: 4, refusedPrincipal: 1, refusedProcess: 1 });
    (a1 as () => void)();
    (a2 as () => void)();
    expect(admission.refuseEarly()).toBeUndefined();
  });
});

describe("fast refusal", () => {
  const routes = (router: ConnectRouter) => {
    router.service(SharedWorkingMemoryService, {});
    router.service(Health, {});
  };
  const base = "http://127.0.0.1:1";
  const getCounter = `/${SharedWorkingMemoryService.typeName}/GetCounter`;
  const subscribe = `/${SharedWorkingMemoryService.typeName}/SubscribeToSWMEvents`;
  const healthCheck = `/${Health.typeName}/Check`;
  const full = () => {
    const admission = createAdmission({ maxInFlight: 1, maxInFlightPerPrincipal: 1, retryAfterSeconds: 2 });
    admission.enter("x");
    return createFastRefusal(routes, admission);
  };
  const post = (path: string, contentType: string, extra: Record<string, string> = {}, body = "{}") =>
    new Request(`${base}${path}`, {
      method: "POST",
      headers: { "content-type": contentType, "content-length": String(body.length), ...extra },
      body,
    });

  test("nothing is refused while the process has room", () => {
    const fast = createFastRefusal(routes, createAdmission(LIMITS));
    expect(fast.fetch(post(getCounter, "application/json"))).toBeUndefined();
    expect(fast.node(getCounter, "POST", { "content-type": "application/grpc" })).toBeUndefined();
  });

  test("a full process refuses unary calls in each protocol's form, keeping the connection for a small body", async () => {
    const fast = full();
    const connect = (await fast.fetch(post(getCounter, "application/json")))!;
    expect(connect.status).toBe(429);
    expect(connect.headers.get("retry-after")).toBe("2");
    expect(connect.headers.get("connection")).toBeNull();
    expect(((await connect.json()) as { code: string }).code).toBe("resource_exhausted");
    const grpcWeb = (await fast.fetch(post(getCounter, "application/grpc-web+proto")))!;
    expect(grpcWeb.status).toBe(200);
    expect(grpcWeb.headers.get("grpc-status")).toBe(String(Code.ResourceExhausted));
    expect(grpcWeb.headers.get("retry-after")).toBe("2");
    const grpc = fast.node(getCounter, "POST", { "content-type": "application/grpc+proto" })!;
    expect(grpc).toMatchObject({ status: 200, body: null });
    expect(grpc.headerObject["grpc-status"]).toBe(String(Code.ResourceExhausted));
    expect(grpc.headerObject["content-type"]).toBe("application/grpc+proto");
    // A large or unknown-length body is not read: the connection closes after the answer.
    expect(
      (await fast.fetch(post(getCounter, "application/proto", {}, "x".repeat(70_000))))!.headers.get("connection"),
    ).toBe("close");
    // Unknown length (chunked): read and dropped up to 64 KiB, the connection kept; beyond, closed.
    const chunked = (size: number) =>
      new Request(`${base}${getCounter}`, {
        method: "POST",
        headers: { "content-type": "application/proto" },
        body: new Blob(["x".repeat(size)]).stream(),
      });
    expect((await fast.fetch(chunked(1000)))!.headers.get("connection")).toBeNull();
    expect((await fast.fetch(chunked(70_000)))!.headers.get("connection")).toBe("close");
  });

  test("streams, open services, other paths and browser requests take the ordinary path", () => {
    const fast = full();
    expect(fast.fetch(post(subscribe, "application/connect+proto"))).toBeUndefined();
    expect(fast.fetch(post(healthCheck, "application/grpc-web+proto"))).toBeUndefined();
    expect(fast.fetch(new Request(`${base}/health`))).toBeUndefined();
    expect(fast.fetch(post(getCounter, "application/json", { origin: "https://app.example" }))).toBeUndefined();
    expect(fast.node(healthCheck, "POST", { "content-type": "application/grpc" })).toBeUndefined();
    expect(
      fast.node(getCounter, "POST", { "content-type": "application/grpc", origin: "https://app.example" }),
    ).toBeUndefined();
    expect(fast.node(getCounter, "PUT", { "content-type": "application/grpc" })).toBeUndefined();
  });
});
