#!/usr/bin/env bun
import { Agent as HttpAgent } from "node:http";
/**
 * The refusal probe of the load test, run as its own child process: a few cheap calls per second
 * (QuerySWM by one id, Poisson arrivals, each call made once with a deadline), round robin over
 * Connect, gRPC-Web (HTTP/1.1, one keep-alive pool) and gRPC (one HTTP/2 session), timed by a
 * process whose event loop is nearly idle. The load generator's 200 agents share one event loop
 * that is itself busy under overload, and its late timers and callbacks add to every latency it
 * measures; the probe's figures are what a client that is not itself overloaded sees of the same
 * server at the same moment, so the difference between the two is the load generator's own
 * queueing.
 *
 * Protocol on stdio, one JSON object per line (see json-lines-process.ts): arguments
 * `<httpUrl> <grpcUrl>`; it writes `{"ready":true}`; stdin `start <calls/s> <deadline ms>` starts
 * probing (answer `{"started":true}`), `stop` stops, waits for the calls under way and answers
 * `{"probe":{...}}` (latency summaries of refused and succeeded calls, failures, and this
 * process's event-loop delay).
 * @module
 */
import { createInterface } from "node:readline";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
  Http2SessionManager,
} from "@connectrpc/connect-node";
import { SharedWorkingMemoryService } from "../../sdk/gen/dcsm/v1/swm_service_pb.ts";
import { sampleLoopDelay } from "./loop-delay.ts";
import { summarise } from "./stats.ts";

const BACKPRESSURE = new Set([Code.ResourceExhausted, Code.Unavailable]);

/** Runs the probe's stdio protocol against the server at `httpUrl` / `grpcUrl`. */
export async function runProbe(httpUrl: string, grpcUrl: string): Promise<void> {
  const httpAgent = new HttpAgent({ keepAlive: true });
  const h2 = new Http2SessionManager(grpcUrl);
  const http = {
    baseUrl: httpUrl,
    httpVersion: "1.1" as const,
    useBinaryFormat: true,
    nodeOptions: { agent: httpAgent },
  };
  const clients = [
    ["connect", createClient(SharedWorkingMemoryService, createConnectTransport(http))],
    ["grpc-web", createClient(SharedWorkingMemoryService, createGrpcWebTransport(http))],
    ["grpc", createClient(SharedWorkingMemoryService, createGrpcTransport({ baseUrl: grpcUrl, sessionManager: h2 }))],
  ] as const;
  const say = (o: unknown) => process.stdout.write(`${JSON.stringify(o)}\n`);
  let refused: number[] = [];
  let ok: number[] = [];
  let failed: string[] = [];
  let running = false;
  let t0 = 0;
  const inFlight = new Set<Promise<void>>();
  let loop = sampleLoopDelay();
  let turn = 0;

  const callOnce = async (deadlineMs: number) => {
    const [, swm] = clients[turn++ % clients.length]!;
    const t = performance.now();
    try {
      await swm.querySWM({ query: { ids: ["probe-none"] }, pageSize: 1 }, { timeoutMs: deadlineMs });
      ok.push(performance.now() - t);
    } catch (err) {
      const e = ConnectError.from(err);
      if (BACKPRESSURE.has(e.code)) refused.push(performance.now() - t);
      else failed.push(`${Code[e.code]}: ${e.rawMessage.slice(0, 120)}`);
    }
  };
  const arrivals = async (perSecond: number, deadlineMs: number) => {
    let due = performance.now();
    while (running) {
      while (due <= performance.now()) {
        const p: Promise<void> = callOnce(deadlineMs).finally(() => inFlight.delete(p));
        inFlight.add(p);
        due += (-Math.log(1 - Math.random()) * 1000) / perSecond;
      }
      await Bun.sleep(Math.max(1, due - performance.now()));
    }
  };

  say({ ready: true });
  let arrivalsDone: Promise<void> = Promise.resolve();
  for await (const line of createInterface({ input: process.stdin })) {
    const [cmd, a, b] = line.trim().split(/\s+/);
    if (cmd === "start") {
      refused = [];
      ok = [];
      failed = [];
      loop.stop();
      loop = sampleLoopDelay();
      running = true;
      t0 = performance.now();
      arrivalsDone = arrivals(Number(a), Number(b));
      say({ started: true });
    } else if (cmd === "stop") {
      running = false;
      await arrivalsDone;
      await Promise.all(inFlight);
      const s = (performance.now() - t0) / 1000;
      say({
        probe: {
          seconds: s,
          refusalLatencyMs: summarise(refused, s),
          succeededLatencyMs: summarise(ok, s),
          failed: failed.length,
          failureSamples: [...new Set(failed)].slice(0, 5),
          loopDelayMs: loop.take(),
        },
      });
    } else if (cmd === "close") break;
  }
  loop.stop();
  h2.abort();
  httpAgent.destroy();
  process.exit(0);
}

if (import.meta.main) await runProbe(process.argv[2]!, process.argv[3]!);
