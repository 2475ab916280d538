/**
 * A timer that an `AbortSignal` cuts short. Browser-safe: no `node:` or `bun:` imports.
 * @module
 */

/**
 * Resolves after `ms` milliseconds, or as soon as `signal` aborts (at once when it already has).
 * Never rejects: the caller checks `signal.aborted` afterwards.
 * @param ms - delay in milliseconds (as `setTimeout`: negative or NaN means 0).
 * @param signal - cuts the wait short.
 */
export function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}
