/**
 * Open-loop load: calls start at a fixed average rate (Poisson arrivals) whether or not earlier
 * calls have been answered, as independent clients do. Unlike a closed loop, whose agents wait for
 * each answer and so slow down with the server, this keeps offering work when the server falls
 * behind: the overload phase of the load test.
 * @module
 */

/** What {@link offerOpenLoop} offered. */
export interface OpenLoopReport {
  /** Calls started. */
  offered: number;
  /** Length of the arrival window, s (the last calls may finish after it). */
  seconds: number;
  /** Most calls in progress at once (client side). */
  maxInFlight: number;
}

/**
 * Starts `step()` of a random member of `pool` at `perSecond` calls per second on average
 * (exponential gaps) for `seconds`, then waits for every started call.
 * @param pool - what to call (each `step` must not reject).
 * @param perSecond - mean arrival rate, calls/s (> 0).
 * @param seconds - length of the arrival window, s.
 * @throws RangeError for a non-positive rate or window.
 */
export async function offerOpenLoop(
  pool: readonly { step(): Promise<void> }[],
  perSecond: number,
  seconds: number,
): Promise<OpenLoopReport> {
  if (!(perSecond > 0) || !(seconds > 0) || pool.length === 0)
    throw new RangeError("perSecond and seconds must be > 0 and pool not empty");
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  const inFlight = new Set<Promise<void>>();
  let due = t0;
  let offered = 0;
  let maxInFlight = 0;
  while (performance.now() < end) {
    const now = performance.now();
    // Every arrival that is due starts now, also those a late timer made us miss.
    while (due <= now && due < end) {
      const p: Promise<void> = pool[Math.floor(Math.random() * pool.length)]!.step().finally(() => inFlight.delete(p));
      inFlight.add(p);
      offered++;
      due += (-Math.log(1 - Math.random()) * 1000) / perSecond;
    }
    maxInFlight = Math.max(maxInFlight, inFlight.size);
    await Bun.sleep(Math.max(1, Math.min(5, due - performance.now())));
  }
  await Promise.all(inFlight);
  return { offered, seconds: (Math.min(performance.now(), end) - t0) / 1000, maxInFlight };
}
