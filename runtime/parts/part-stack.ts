/**
 * The server's parts in start order, and the one teardown path that undoes them
 * (docs/server-assembly.md): parts start one after another; teardown first drains every started
 * part at once (listeners stop accepting and let open calls finish), then stops them in reverse
 * start order. A failed start runs the same teardown over what had started.
 * @module
 */
import type { Logger } from "../logger.ts";

/** What a part hands back when it has started. */
export interface StartedPart<T> {
  /** What the part provides to the parts after it (a store, a listener, …). */
  value: T;
  /**
   * Stop taking new work and let work in flight finish, bounded in time. Runs for every started
   * part at once, before any {@link StartedPart.stop}.
   */
  drain?(): Promise<void>;
  /** Release what the start took (files, sockets, timers, connections). Runs once, in reverse start order. */
  stop?(): Promise<void> | void;
}

/** One started part as the stack keeps it. */
interface Entry {
  name: string;
  drain?(): Promise<void>;
  stop?(): Promise<void> | void;
}

/**
 * Starts parts in order and tears them down in reverse. A part whose own start throws releases
 * what it took before throwing; the stack then tears down the parts started before it.
 */
export class PartStack {
  private readonly started: Entry[] = [];
  private teardown?: Promise<void>;

  /** @param log - receives a debug line per started and stopped part, and each teardown error. */
  constructor(private readonly log: Logger) {}

  /**
   * Starts one part after the ones already started.
   * @param name - the part's name in logs and errors ("storage", "gRPC listener", …).
   * @param start - starts it; returns its value and how to drain and stop it.
   * @returns the part's value.
   * @throws Error when the stack is already tearing down; whatever `start` throws (the parts
   *   started before are left for {@link PartStack.stopAll}).
   */
  async start<T>(name: string, start: () => Promise<StartedPart<T>> | StartedPart<T>): Promise<T> {
    if (this.teardown) throw new Error(`cannot start ${name}: the server is stopping`);
    const part = await start();
    this.started.push({ name, drain: part.drain, stop: part.stop });
    this.log.debug({ part: name }, "part started");
    return part.value;
  }

  /** Names of the started parts, in start order (for logs and tests). */
  names(): string[] {
    return this.started.map((p) => p.name);
  }

  /**
   * The one teardown path: drains every started part at once, then stops each in reverse start
   * order. A failing drain or stop is logged and does not keep the others from running. Calling it
   * again returns the same teardown.
   * @throws the first drain or stop error, after every part was stopped.
   */
  stopAll(): Promise<void> {
    this.teardown ??= this.run();
    return this.teardown;
  }

  private async run(): Promise<void> {
    const parts = this.started.slice().reverse();
    const errors: unknown[] = [];
    const attempt = async (part: Entry, phase: "drain" | "stop") => {
      try {
        await part[phase]?.();
      } catch (err) {
        errors.push(err);
        this.log.error({ err, part: part.name }, `${phase} of ${part.name} failed`);
      }
    };
    await Promise.all(parts.map((p) => attempt(p, "drain")));
    for (const p of parts) {
      await attempt(p, "stop");
      this.log.debug({ part: p.name }, "part stopped");
    }
    if (errors.length > 0) throw errors[0];
  }
}
