/**
 * Event-loop lag as an admission signal. Every request, admitted or refused, first waits for the
 * process's one event loop; how late a timer fires is how long a callback waits right now. A fixed
 * bound on calls in progress cannot see that wait (16 cheap calls and 16 heavy ones differ tenfold,
 * and so does a machine shared with other work), so admission also refuses while the loop has
 * been late for a sustained time, in the manner of CoDel (Nichols and Jacobson, "Controlling
 * Queue Delay", ACM Queue 10(5), 2012; RFC 8289): short bursts above the target pass, a standing
 * delay does not. See docs/overload.md.
 *
 * The monitor asks for a tick every `sampleMs`; a tick's lag is how late it came. The loop is
 * "congested" once every lag seen over the last `intervalMs` was above `targetMs` — that is, the
 * smallest lag of the window is above the target (CoDel's standing-queue test) — and stays so
 * until a tick comes within the target. A tick that is due and has not come yet counts as late
 * already: a request handled in the middle of a long loop turn sees the turn's lateness so far.
 * @module
 */

/** Settings of a {@link LoopLagMonitor}. */
export interface LoopLagSettings {
  /** Lag above which the loop counts as late, ms (> 0). */
  targetMs: number;
  /** How long every tick must have been late before the loop counts as congested, ms (>= `sampleMs`). @default 100 */
  intervalMs?: number;
  /** Requested tick interval, ms (>= 1). @default 5 */
  sampleMs?: number;
}

/** A running monitor of this process's event-loop lag. */
export interface LoopLagMonitor {
  /** True while the loop is congested (see the module comment). Cheap: no system call beyond a clock read. */
  congested(): boolean;
  /** The lag of the last tick, or the lateness of the tick now due when that is larger, ms. */
  lagMs(): number;
  /** Times the loop turned congested since start. */
  congestions(): number;
  /** Stops the timer (the monitor then reports not congested). */
  stop(): void;
}

/**
 * Starts monitoring this process's event-loop lag (the timer is `unref`ed: it keeps no process alive).
 * @throws RangeError for a non-positive target, a sample interval below 1 ms, or an interval shorter than the sample interval.
 */
export function startLoopLagMonitor(settings: LoopLagSettings): LoopLagMonitor {
  const target = settings.targetMs;
  const sampleMs = settings.sampleMs ?? 5;
  const intervalMs = settings.intervalMs ?? 100;
  if (!(target > 0)) throw new RangeError("targetMs must be > 0");
  if (!(sampleMs >= 1)) throw new RangeError("sampleMs must be >= 1");
  if (!(intervalMs >= sampleMs)) throw new RangeError("intervalMs must be >= sampleMs");
  let due = performance.now() + sampleMs;
  let lastLag = 0;
  /** Since when every tick has been late (NaN: the last tick was on time). */
  let lateSince = Number.NaN;
  let isCongested = false;
  let count = 0;
  let stopped = false;
  const timer = setInterval(() => {
    const now = performance.now();
    lastLag = Math.max(0, now - due);
    due = now + sampleMs;
    if (lastLag <= target) {
      lateSince = Number.NaN;
      isCongested = false;
      return;
    }
    // The lateness started when this tick was due, not when it came.
    if (Number.isNaN(lateSince)) lateSince = now - lastLag;
    if (!isCongested && now - lateSince >= intervalMs) {
      isCongested = true;
      count++;
    }
  }, sampleMs);
  timer.unref?.();
  const overdue = () => Math.max(0, performance.now() - due);
  return {
    congested() {
      if (stopped) return false;
      if (isCongested) return true;
      // A tick overdue by more than the interval: the loop has been stuck at least that long.
      const late = overdue();
      return late > target && (Number.isNaN(lateSince) ? late : performance.now() - lateSince) >= intervalMs;
    },
    lagMs: () => (stopped ? 0 : Math.max(lastLag, overdue())),
    congestions: () => count,
    stop() {
      stopped = true;
      clearInterval(timer);
    },
  };
}
