#!/usr/bin/env bun
/**
 * Load test: one real DCSM server (child process, SWM on a real
 * `redis-server` on a free port, or the in-process working set with `--swm=memory`) and 200
 * concurrent agents, each on its own connection, over a mix of gRPC, Connect and gRPC-Web, for
 * 60 s: publishes (a quarter persisted to GLM), QuerySWM, GLM vector and text search, and a
 * quarter of the agents holding an event stream. Then it checks that nothing was lost or
 * duplicated (SWM, GLM after the write-behind drains, every subscriber's events) and prints
 * p50/p95/p99 latency per operation and protocol and the throughput; `--json <path>` writes the
 * report. Exit code 1 on any failed check. Run with `npm run test:load`.
 *
 * After the closed-loop phase comes an overload phase (`--overload-seconds`, 30; 0 skips it): the
 * same agents, open loop, at `--overload-factor` (2) times the call rate the closed loop just
 * reached, each call made once with a deadline of `--deadline-ms` (1000). The acknowledged writes
 * of both phases must all be kept (the checks above cover both: these fail the run). Its
 * performance targets are reported MET or MISSED without failing the run: every call succeeded
 * within its deadline or was refused (`ResourceExhausted`/`Unavailable`), p99 refusal latency at
 * most {@link REFUSAL_P99_MS}, and event lag, from the publisher's acknowledgement to delivery,
 * p99 at most {@link OVERLOAD_LAG_P99_MS} for the overload phase's publishes. So that a slow
 * refusal can be placed, it also reports a probe process's figures for the same phase (probe.ts:
 * an idle client, so without this process's own queueing), the event-loop delay of this process
 * and of the server with their main threads' share on a CPU and waiting for one (loop-delay.ts),
 * and the server's admission and background-GC counters (`/health` details). Why:
 * docs/overload.md.
 *
 * Flags override environment: `--seconds` (DCSM_LOAD_SECONDS, 60), `--agents` (DCSM_LOAD_AGENTS,
 * 200), `--swm=redis|memory` (DCSM_LOAD_SWM, redis), `--json` (DCSM_LOAD_JSON), `--subscribers`
 * share 0..1 (DCSM_LOAD_SUBSCRIBERS, 0.25), `--groups` (DCSM_LOAD_GROUPS, 8), `--think-ms`
 * (DCSM_LOAD_THINK_MS, 0), `--mix publish=40,query=33,vector=22,text=5,persist=0.25` (DCSM_LOAD_MIX),
 * `--overload-seconds` (DCSM_LOAD_OVERLOAD_SECONDS, 30), `--overload-factor` (DCSM_LOAD_OVERLOAD_FACTOR,
 * 2), `--deadline-ms` (DCSM_LOAD_DEADLINE_MS, 1000).
 * @module
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { createConnectTransport } from "@connectrpc/connect-node";
import { type JsonLinesProcess, spawnJsonLines } from "../helpers/json-lines-process.ts";
import { startRedis, type TestRedis } from "../helpers/redis-server.ts";
import { type CallPolicy, LoadAgent, type LoadProtocol, newPolicy } from "./load-agent.ts";
import { type Check, eventLags, overloadSummary, overloadTargets, printReport, withTotals } from "./load-report.ts";
import { type LoadSettings, parseSettings } from "./load-settings.ts";
import { type LoopDelaySummary, sampleLoopDelay } from "./loop-delay.ts";
import { runOverloadPhase } from "./overload-phase.ts";
import { summarise } from "./stats.ts";
import { establishedTo, verifyGlm, verifySwm } from "./verify.ts";

export { OVERLOAD_LAG_P99_MS, REFUSAL_P99_MS } from "./load-report.ts";
export { PROBE_CALLS_PER_SECOND } from "./overload-phase.ts";
export type { LoadSettings };
export { parseSettings };

/** Per-call deadline of the closed-loop phase, ms (back-pressure answers are retried up to 5 times). */
const CLOSED_LOOP_DEADLINE_MS = 30_000;

/** One line of `/proc/loadavg` as numbers (1, 5, 15 min); zeros where it cannot be read. */
export function loadAverage(): [number, number, number] {
  try {
    const [a, b, c] = readFileSync("/proc/loadavg", "utf8").split(" ").map(Number);
    return [a!, b!, c!];
  } catch {
    return [0, 0, 0];
  }
}

/** The child server process and its line protocol (see load-server.ts). */
async function startServerProcess(redisUrl: string) {
  // DCSM_LOAD_SERVER_BUN_FLAGS: flags for the server's Bun, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
  const flags = (process.env.DCSM_LOAD_SERVER_BUN_FLAGS ?? "").split(/\s+/).filter(Boolean);
  const { p, next, ask } = spawnJsonLines(join(import.meta.dir, "load-server.ts"), [], { REDIS_URL: redisUrl }, flags);
  const ready = (await next()) as { httpUrl: string; grpcUrl: string; dimension?: number; backend: string };
  return { p, ready, ask };
}

/**
 * Runs the load test with `settings`.
 * @returns the report (also printed, and written to `settings.json` when given); `report.pass`
 *   is false when any check failed.
 */
export async function runLoad(settings: LoadSettings): Promise<Record<string, unknown> & { pass: boolean }> {
  const log = (s: string) => process.stderr.write(`load: ${s}\n`);
  const run = `load${Date.now().toString(36)}`;
  let redis: TestRedis | undefined;
  let server: Awaited<ReturnType<typeof startServerProcess>> | undefined;
  let probe: JsonLinesProcess | undefined;
  const agents: LoadAgent[] = [];
  try {
    if (settings.swm === "redis") redis = await startRedis();
    server = await startServerProcess(redis?.url ?? "");
    const { httpUrl, grpcUrl } = server.ready;
    const dimension = server.ready.dimension ?? 384;
    log(
      `server ${httpUrl} (gRPC ${grpcUrl}), SWM ${server.ready.backend}; ${settings.agents} agents for ${settings.seconds} s, run ${run}`,
    );

    const normal: CallPolicy = newPolicy("normal", CLOSED_LOOP_DEADLINE_MS, 5);
    const book = normal.book;
    const protocols: LoadProtocol[] = ["grpc", "connect", "grpc-web"];
    const stride = settings.subscribers > 0 ? Math.max(1, Math.round(1 / settings.subscribers)) : Infinity;
    for (let i = 0; i < settings.agents; i++) {
      agents.push(
        new LoadAgent({
          index: i,
          protocol: protocols[i % 3]!,
          httpUrl,
          grpcUrl,
          run,
          groups: settings.groups,
          dimension,
          mix: settings.mix,
          policy: normal,
          thinkMs: settings.thinkMs,
        }),
      );
    }
    const subscribers = agents.filter((_, i) => i % stride === 0);
    const subscribing = Promise.all(subscribers.map((a, j) => a.subscribe(`${run}-g${j % settings.groups}`)));
    const subTimeout = Bun.sleep(30_000).then(() => "timeout" as const);
    if ((await Promise.race([subscribing, subTimeout])) === "timeout")
      throw new Error(
        `only ${subscribers.filter((a) => a.sub.ready).length} of ${subscribers.length} event streams came up within 30 s`,
      );
    log(`${subscribers.length} event streams live`);

    // Event-loop delay of both processes per phase: time every latency below includes.
    const clientLoop = sampleLoopDelay();
    const loopDelayMs: Record<string, { client: LoopDelaySummary; server: LoopDelaySummary }> = {};
    const serverLoop = async () => (await server!.ask("loop-delay")).loopDelayMs as LoopDelaySummary;
    await serverLoop();
    const loadBefore = loadAverage();
    const loadSamples: number[] = [];
    const conns = { http: 0, grpc: 0 };
    const stop = new AbortController();
    const t0 = performance.now();
    const sample = () => {
      loadSamples.push(loadAverage()[0]);
      conns.http = Math.max(conns.http, establishedTo(Number(new URL(httpUrl).port)));
      conns.grpc = Math.max(conns.grpc, establishedTo(Number(new URL(grpcUrl).port)));
    };
    const sampler = setInterval(() => {
      sample();
      log(
        `${Math.round((performance.now() - t0) / 1000)} s: ${book.select(() => true).length} calls, load ${loadSamples.at(-1)}`,
      );
    }, 5000);
    const running = agents.map((a) => a.run(stop.signal));
    await Bun.sleep(settings.seconds * 1000);
    sample(); // also covers runs shorter than the sampling interval
    stop.abort();
    await Promise.all(running);
    const elapsed = (performance.now() - t0) / 1000;
    const closedRate = book.select(() => true).length / elapsed;
    loopDelayMs.normal = { client: clientLoop.take(), server: await serverLoop() };
    log(`closed-loop phase done in ${elapsed.toFixed(1)} s, ${closedRate.toFixed(1)} calls/s`);

    // Overload: the same agents, open loop, at overloadFactor times the rate just reached.
    const phase = await runOverloadPhase({
      settings,
      agents,
      closedRate,
      httpUrl,
      grpcUrl,
      log,
      loadSamples,
      onProbe: (p) => {
        probe = p;
      },
      afterPhase: async () => {
        loopDelayMs.overload = { client: clientLoop.take(), server: await serverLoop() };
        sample();
      },
    });
    clearInterval(sampler);
    clientLoop.stop();
    const loadAfter = loadAverage();
    log("verifying");

    // Subscribers: wait (up to 20 s) until each saw every acknowledged publish of its group.
    const ackedByGroup = new Map<string, string[]>();
    for (const a of agents)
      for (const k of a.acked) (ackedByGroup.get(k.group) ?? ackedByGroup.set(k.group, []).get(k.group)!).push(k.id);
    const missingOf = (a: LoadAgent) =>
      (ackedByGroup.get(a.sub.group) ?? []).filter((id) => !a.sub.published.has(id)).length;
    const subWaitEnd = Date.now() + 20_000;
    while (subscribers.some((a) => missingOf(a) > 0) && Date.now() < subWaitEnd) await Bun.sleep(100);
    await Promise.all(subscribers.map((a) => a.unsubscribe()));

    const verifyTransport = createConnectTransport({ baseUrl: httpUrl, httpVersion: "1.1", useBinaryFormat: true });
    const swmReport = await verifySwm(
      verifyTransport,
      agents.map((a) => ({ id: a.id, acked: a.acked.map((k) => k.id), uncertain: a.uncertain })),
    );
    const drain = (await server.ask("drain 60000")) as { drained: boolean; stats: Record<string, number> };
    const uncertain = new Set(agents.flatMap((a) => [...a.uncertain]));
    const persisted = agents.flatMap((a) => a.acked.filter((k) => k.persist).map((k) => k.id));
    const glmReport = await verifyGlm(verifyTransport, run, persisted, uncertain);

    // Tallies.
    const { errors, failed: failedCalls, backpressure } = withTotals(normal.errors);
    const latency = book.summaries(elapsed);
    const calls = book.select(() => true).length;
    const lags = eventLags(agents, subscribers);
    const overloadReport = overloadSummary(phase, settings, agents, lags, protocols);
    const sub = {
      streams: subscribers.length,
      publishedEventsExpected: subscribers.reduce((s, a) => s + (ackedByGroup.get(a.sub.group)?.length ?? 0), 0),
      publishedEventsReceived: subscribers.reduce(
        (s, a) => s + [...a.sub.published.values()].reduce((x, y) => x + y, 0),
        0,
      ),
      missing: subscribers.reduce((s, a) => s + missingOf(a), 0),
      duplicated: subscribers.reduce((s, a) => s + [...a.sub.published.values()].filter((n) => n > 1).length, 0),
      updatedEvents: subscribers.reduce((s, a) => s + a.sub.updated, 0),
      otherEvents: subscribers.reduce((s, a) => s + a.sub.other, 0),
      overflowsResumed: subscribers.reduce((s, a) => s + a.sub.overflows, 0),
      reloadRequired: subscribers.reduce((s, a) => s + a.sub.reloadRequired, 0),
      streamFailures: subscribers.reduce((s, a) => s + a.sub.failed, 0),
      reconnects: subscribers.reduce((s, a) => s + a.sub.connections - 1, 0),
      eventLagMs: summarise(lags.get("normal") ?? [], elapsed),
    };
    const readOwnWritesMissing = agents.reduce((s, a) => s + a.readOwnWritesMissing, 0);
    const grpcAgents = agents.filter((_, i) => protocols[i % 3] === "grpc").length;
    const httpAgents = agents.length - grpcAgents;
    const m = settings.mix;
    const expectedOps = [
      ...(m.publish > 0 && m.persistShare < 1 ? ["publish"] : []),
      ...(m.publish > 0 && m.persistShare > 0 ? ["publish+persist"] : []),
      ...(m.query > 0 ? ["query.agent", "query.group"] : []),
      ...(m.vector > 0 ? ["search.vector"] : []),
      ...(m.text > 0 ? ["search.text"] : []),
    ];
    const checks: Check[] = [
      {
        name: "no errors besides back-pressure",
        ok: failedCalls === 0 && sub.streamFailures === 0,
        detail: `${failedCalls} failed calls, ${sub.streamFailures} failed streams, ${backpressure} back-pressure answers (retried)`,
      },
      {
        name: "every operation kind ran",
        ok: expectedOps.every((op) => (latency[`${op}/all`]?.count ?? 0) > 0),
        detail: `${calls} calls; kinds expected: ${expectedOps.join(", ")}`,
      },
      {
        name: "SWM holds every acknowledged publish exactly once",
        ok: swmReport.missing === 0 && swmReport.duplicated === 0 && swmReport.unexpected === 0,
        detail: `${swmReport.expected} acknowledged, ${swmReport.found} found, ${swmReport.missing} missing, ${swmReport.duplicated} duplicated, ${swmReport.unexpected} unexpected; ${sub.otherEvents} eviction/deletion events seen by subscribers`,
      },
      {
        name: "read-your-writes (QuerySWM by own ids)",
        ok: readOwnWritesMissing === 0,
        detail: `${readOwnWritesMissing} queries missed an acknowledged KEM`,
      },
      {
        name: "write-behind drained",
        ok: drain.drained,
        detail: `depth ${drain.stats.depth}, persisted ${drain.stats.persisted}, rejected ${drain.stats.rejected}, failed attempts ${drain.stats.failedAttempts}`,
      },
      {
        name: "GLM holds every persisted publish exactly once",
        ok:
          glmReport.missing === 0 &&
          glmReport.duplicated === 0 &&
          glmReport.unexpected === 0 &&
          glmReport.byIdsFound === persisted.length,
        detail: `${glmReport.expected} persisted, ${glmReport.byIdsFound} found by ids, ${glmReport.found} by metadata, ${glmReport.missing} missing, ${glmReport.duplicated} duplicated, ${glmReport.unexpected} unexpected`,
      },
      {
        name: "every subscriber got every publish of its group exactly once",
        ok: sub.missing === 0 && sub.duplicated === 0 && sub.reloadRequired === 0,
        detail: `${sub.publishedEventsReceived}/${sub.publishedEventsExpected} KEM_PUBLISHED events, ${sub.missing} missing, ${sub.duplicated} duplicated, ${sub.reloadRequired} RELOAD_REQUIRED, ${sub.overflowsResumed} buffer drops resumed`,
      },
      {
        name: "each agent on its own connection",
        ok: conns.grpc >= grpcAgents && conns.http >= httpAgents,
        detail: `server-side established connections: gRPC ${conns.grpc} for ${grpcAgents} agents, HTTP/1.1 ${conns.http} for ${httpAgents} agents`,
      },
    ];
    if (settings.overloadSeconds > 0) checks.push(...overloadTargets(overloadReport, settings, closedRate));
    const pass = checks.every((c) => c.ok || c.target);
    const loadDuring = loadSamples.length
      ? Math.round((loadSamples.reduce((a, b) => a + b, 0) / loadSamples.length) * 100) / 100
      : loadAfter[0];
    const report = {
      pass,
      run,
      settings,
      server: { backend: server.ready.backend, httpUrl, grpcUrl },
      loadAverage: {
        before: loadBefore,
        duringMean1m: loadDuring,
        after: loadAfter,
        cores: navigator.hardwareConcurrency,
      },
      seconds: Math.round(elapsed * 100) / 100,
      throughput: {
        callsPerSecond: Math.round((calls / elapsed) * 10) / 10,
        calls,
        publishesAcknowledged: swmReport.expected,
        persisted: persisted.length,
      },
      latencyMs: latency,
      errors,
      errorSamples: [...new Set(agents.flatMap((a) => a.errorSamples))].slice(0, 20),
      connections: conns,
      swm: swmReport,
      glm: glmReport,
      writeBehind: drain.stats,
      subscribers: sub,
      overload: settings.overloadSeconds > 0 ? overloadReport : null,
      loopDelayMs,
      checks,
    };
    printReport(process.stdout, {
      settings,
      pass,
      backend: server.ready.backend,
      grpcAgents,
      httpAgents,
      streams: subscribers.length,
      elapsed,
      latency,
      errors,
      callsPerSecond: report.throughput.callsPerSecond,
      calls,
      eventLagMs: sub.eventLagMs,
      overload: overloadReport,
      overloadSeconds: phase.offered.seconds,
      loopDelayMs,
      loadBefore,
      loadDuring,
      loadAfter,
      checks,
      errorSamples: report.errorSamples,
    });
    const out = process.stdout;
    if (settings.json) {
      mkdirSync(dirname(settings.json), { recursive: true });
      writeFileSync(settings.json, `${JSON.stringify(report, null, 2)}\n`);
      out.write(`report written to ${settings.json}\n`);
    }
    return report;
  } finally {
    if (probe) {
      probe.p.stdin.write("close\n");
      probe.p.stdin.flush();
      await Promise.race([probe.p.exited, Bun.sleep(5_000)]);
      probe.p.kill();
    }
    await Promise.all(agents.map((a) => a.close()));
    if (server) {
      await Promise.race([server.ask("close").catch(() => undefined), Bun.sleep(10_000)]);
      await Promise.race([server.p.exited, Bun.sleep(5_000)]); // it exits by itself after "closed"
      server.p.kill();
      await server.p.exited;
    }
    await redis?.stop();
  }
}

if (import.meta.main) {
  const settings = parseSettings(process.argv.slice(2), process.env);
  const watchdog = setTimeout(
    () => {
      process.stderr.write("load: watchdog: the run took too long\n");
      process.exit(2);
    },
    (settings.seconds + settings.overloadSeconds + 180) * 1000,
  );
  try {
    const report = await runLoad(settings);
    process.exitCode = report.pass ? 0 : 1;
  } catch (err) {
    process.stderr.write(`load: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  } finally {
    clearTimeout(watchdog);
  }
}
