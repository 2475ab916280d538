/**
 * The overload phase of the load test (agents-load.ts): the same agents, open loop, at a multiple
 * of the call rate the closed loop reached, each call made once with a deadline, timed meanwhile by
 * a separate probe process (probe.ts); afterwards the server's admission and background-GC
 * counters are read from `/health`. Why: docs/overload.md.
 * @module
 */
import { join } from "node:path";
import { type JsonLinesProcess, spawnJsonLines } from "../helpers/json-lines-process.ts";
import { type CallPolicy, type LoadAgent, newPolicy } from "./load-agent.ts";
import type { LoadSettings } from "./load-settings.ts";
import { type OpenLoopReport, offerOpenLoop } from "./open-loop.ts";
import type { LatencySummary } from "./stats.ts";

/**
 * Calls per second of the refusal probe (probe.ts): a separate, nearly idle client process timing
 * the same server during the overload phase, so that the load generator's own queueing can be
 * told apart from the server's.
 */
export const PROBE_CALLS_PER_SECOND = 100;

/** What the probe reports (probe.ts). */
export interface ProbeReport {
  seconds: number;
  refusalLatencyMs: LatencySummary;
  succeededLatencyMs: LatencySummary;
  failed: number;
  failureSamples: string[];
  loopDelayMs: LatencySummary;
}

/** What {@link runOverloadPhase} did. */
export interface OverloadPhase {
  /** The phase's call policy: its books hold the phase's latencies, refusals and errors. */
  policy: CallPolicy;
  /** Offered call rate, calls/s: `overloadFactor` times the closed loop's. */
  rate: number;
  /** What the open loop offered (zeros when the phase was skipped). */
  offered: OpenLoopReport;
  /** The probe's figures (absent when the phase was skipped). */
  probe?: ProbeReport;
  /** The server's admission counters and background-GC counters (`gc.*`) from `/health`. */
  admission?: Record<string, number>;
}

/** What {@link runOverloadPhase} needs from the run. */
export interface OverloadPhaseOptions {
  settings: LoadSettings;
  agents: readonly LoadAgent[];
  /** Call rate the closed loop reached, calls/s. */
  closedRate: number;
  httpUrl: string;
  grpcUrl: string;
  log: (s: string) => void;
  /** 1-minute load averages sampled so far (read for the closing log line). */
  loadSamples: readonly number[];
  /** Called with the probe process once started; the caller closes it. */
  onProbe: (probe: JsonLinesProcess) => void;
  /** Called at the end of the phase, before its closing log line (takes the phase's loop delay, samples load). */
  afterPhase: () => Promise<void>;
}

/**
 * Runs the overload phase when `settings.overloadSeconds > 0`: switches every agent to a policy
 * with the per-call deadline `settings.deadlineMs` and no retries, then offers
 * `overloadFactor * closedRate` calls/s for `overloadSeconds` while the probe times the server.
 * @returns the phase's policy and figures (a fresh, unused policy when the phase is skipped).
 */
export async function runOverloadPhase(o: OverloadPhaseOptions): Promise<OverloadPhase> {
  const { settings, agents, log } = o;
  const overload: CallPolicy = newPolicy("overload", settings.deadlineMs, 0);
  let offered: OpenLoopReport = { offered: 0, seconds: 0, maxInFlight: 0 };
  let probeReport: ProbeReport | undefined;
  let admissionStats: Record<string, number> | undefined;
  const overloadRate = settings.overloadFactor * o.closedRate;
  if (settings.overloadSeconds > 0) {
    log(
      `overload phase: ${overloadRate.toFixed(1)} calls/s offered (${settings.overloadFactor}x), deadline ${settings.deadlineMs} ms, for ${settings.overloadSeconds} s`,
    );
    for (const a of agents) a.policy = overload;
    const loadAtOverload = o.loadSamples.length;
    const probe = spawnJsonLines(join(import.meta.dir, "probe.ts"), [o.httpUrl, o.grpcUrl]);
    o.onProbe(probe);
    await probe.next();
    await probe.ask(`start ${PROBE_CALLS_PER_SECOND} ${settings.deadlineMs}`);
    offered = await offerOpenLoop(agents, overloadRate, settings.overloadSeconds);
    probeReport = (await probe.ask("stop")).probe as ProbeReport;
    const health = (await (await fetch(`${o.httpUrl}/health`)).json()) as {
      admission?: Record<string, number>;
      embedding?: { gc?: Record<string, number> };
    };
    admissionStats = {
      ...health.admission,
      ...Object.fromEntries(Object.entries(health.embedding?.gc ?? {}).map(([k, v]) => [`gc.${k}`, v])),
    };
    await o.afterPhase();
    log(
      `overload phase done: ${offered.offered} calls offered, at most ${offered.maxInFlight} in progress, load ${o.loadSamples.slice(loadAtOverload).join(" ")}`,
    );
  }
  return { policy: overload, rate: overloadRate, offered, probe: probeReport, admission: admissionStats };
}
