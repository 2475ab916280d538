/**
 * Event-loop delay of a process, measured the plain way: a timer asks for a tick every
 * `intervalMs` and records how late each tick came. A late tick means callbacks waited that long
 * for the loop (busy with other work), which adds to every latency measured in that process.
 * @module
 */
import { summarise, type LatencySummary } from "./stats.ts";

/** A running sampler. */
export interface LoopDelaySampler {
  /** Summary of the delays (ms) since the start or the last `take`, and a fresh start. */
  take(): LatencySummary;
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
      const s = summarise(delays, (now - since) / 1000);
      delays = [];
      since = now;
      return s;
    },
    stop: () => clearInterval(timer),
  };
}
