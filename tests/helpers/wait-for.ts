/**
 * Waiting for a condition instead of sleeping: polls until the condition holds, and fails with a
 * clear message when it does not within the timeout.
 */

/** Options of {@link waitFor}. */
export interface WaitForOptions {
  /** Longest wait, ms. @default 5000 */
  timeoutMs?: number;
  /** Pause between checks, ms. @default 20 */
  intervalMs?: number;
  /** What is awaited, for the timeout error. @default "condition" */
  what?: string;
}

/** `T` without its falsy values. */
export type Truthy<T> = Exclude<T, false | null | undefined | 0 | "">;

/**
 * Calls `condition` until it returns a truthy value (awaiting it when it is a promise), pausing
 * `intervalMs` between calls.
 * @returns the first truthy value.
 * @throws Error when `timeoutMs` passes first, naming `what`, the timeout and the last value;
 *   whatever `condition` throws.
 */
export async function waitFor<T>(condition: () => T | Promise<T>, options: WaitForOptions = {}): Promise<Truthy<T>> {
  const timeoutMs = options.timeoutMs ?? 5000;
  const intervalMs = options.intervalMs ?? 20;
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await condition();
    if (value) return value as Truthy<T>;
    if (performance.now() >= deadline) {
      throw new Error(
        `waitFor: ${options.what ?? "condition"} not met within ${timeoutMs} ms (last value: ${String(value)})`,
      );
    }
    await Bun.sleep(Math.min(intervalMs, Math.max(1, deadline - performance.now())));
  }
}
