/**
 * Bounded per-subscriber event queue: the producer never waits; a consumer that falls
 * `capacity` events behind is failed (dropped) instead of stalling the others.
 * @module
 */

/** Result of {@link EventQueue.next}. */
export type NextResult<T> = { value: T } | "idle" | "aborted";

/** A bounded FIFO between a synchronous producer and one async consumer. */
export class EventQueue<T> {
  private items: T[] = [];
  private head = 0;
  private failure: unknown = null;
  private waiter: (() => void) | null = null;

  /** @param capacity - most items held; `push` past it fails the queue. */
  constructor(private readonly capacity: number) {}

  /** Adds an item; when full, fails the queue with `overflow()` instead. @returns false when failed. */
  push(item: T, overflow: () => unknown): boolean {
    if (this.failure) return false;
    if (this.items.length - this.head >= this.capacity) {
      this.fail(overflow());
      return false;
    }
    this.items.push(item);
    this.waiter?.();
    return true;
  }

  /** Fails the queue: the consumer's next `next` throws `err`. */
  fail(err: unknown): void {
    if (!this.failure) this.failure = err;
    this.waiter?.();
  }

  /**
   * The next item; "idle" after `idleMs` without one; "aborted" when `signal` aborts.
   * @throws the failure given to {@link fail} (or the overflow error).
   */
  async next(idleMs: number, signal: AbortSignal): Promise<NextResult<T>> {
    for (;;) {
      if (this.failure) throw this.failure;
      if (signal.aborted) return "aborted";
      if (this.head < this.items.length) {
        const value = this.items[this.head++]!;
        if (this.head > 1024 && this.head * 2 > this.items.length) {
          this.items = this.items.slice(this.head);
          this.head = 0;
        }
        return { value };
      }
      const woke = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => finish(false), idleMs);
        const onAbort = () => finish(true);
        const finish = (v: boolean) => {
          clearTimeout(timer);
          signal.removeEventListener("abort", onAbort);
          this.waiter = null;
          resolve(v);
        };
        this.waiter = () => finish(true);
        signal.addEventListener("abort", onAbort, { once: true });
      });
      if (!woke) return "idle";
    }
  }
}
