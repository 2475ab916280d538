/**
 * Event-loop delay of a process, measured the plain way: a timer asks for a tick every
 * `intervalMs` and records how late each tick came. A late tick means callbacks waited that long
 * for the loop (busy with other work), which adds to every latency measured in that process.
 * @module
 */
import { readFileSync } from "node:fs";
import { type LatencySummary, summarise } from "./stats.ts";

/**
 * Scheduler figures of this process's main (JavaScript) thread over a window, from Linux's
 * `/proc/self/task/<pid>/schedstat` (time on a CPU, time runnable but waiting in the run queue,
 * time slices): how much of the window the thread ran, and how much it was ready to run but had
 * no CPU — a wait that no code in the process can shorten, and that every request it handles then
 * shares.
 */
export interface ThreadSchedule {
  /** Share of the window on a CPU, 0..1. */
  cpuShare: number;
  /** Share of the window runnable but waiting for a CPU, 0..1. */
  runQueueShare: number;
  /** Mean run-queue wait per time slice, ms. */
  waitPerSliceMs: number;
}

/** Event-loop delay of a window, with the main thread's schedule where Linux tells it. */
export type LoopDelaySummary = LatencySummary & { schedule?: ThreadSchedule };

function schedStat(): [number, number, number] | undefined {
  try {
    const [run, wait, slices] = readFileSync(`/proc/self/task/${process.pid}/schedstat`, "utf8")
      .trim()
      .split(/\s+/)
      .map(Number);
    return [run! / 1e6, wait! / 1e6, slices!];
  } catch {
    return undefined;
  }
}

/** A running sampler. */
export interface LoopDelaySampler {
  /** Summary of the delays (ms) since the start or the last `take`, and a fresh start. */
  take(): LoopDelaySummary;
  /** Stops the timer. */
  stop(): void;
}

/**
 * Starts sampling the event-loop delay of this process.
 * @param intervalMs - requested tick interval, ms. @default 10
 */
export function sampleLoopDelay(intervalMs = 10): LoopDelaySampler {
  let delays: number[] = [];
  let since = performance.now();
  let sched = schedStat();
  let expected = since + intervalMs;
  const timer = setInterval(() => {
    const now = performance.now();
    delays.push(Math.max(0, now - expected));
    expected = now + intervalMs;
  }, intervalMs);
  timer.unref?.();
  return {
    take() {
      const now = performance.now();
      const s: LoopDelaySummary = summarise(delays, (now - since) / 1000);
      const next = schedStat();
      if (sched && next) {
        const wall = now - since;
        const r = (x: number) => Math.round(x * 1000) / 1000;
        s.schedule = {
          cpuShare: r((next[0] - sched[0]) / wall),
          runQueueShare: r((next[1] - sched[1]) / wall),
          waitPerSliceMs: r((next[1] - sched[1]) / Math.max(1, next[2] - sched[2])),
        };
      }
      sched = next;
      delays = [];
      since = now;
      return s;
    },
    stop: () => clearInterval(timer),
  };
}
