/**
 * A child Bun process that talks JSON lines: one JSON object per stdout line, commands as lines on
 * stdin. Used for agents and servers that must run in their own process (own event loop).
 */
import { type Subprocess, spawn } from "bun";

/** A running JSON-lines child. */
export interface JsonLinesProcess {
  /** The process (stdin is a pipe). */
  p: Subprocess<"pipe", "pipe", "inherit">;
  /** The next JSON line it prints. @throws Error when it exits first (with its exit code). */
  next(): Promise<Record<string, unknown>>;
  /** Writes one line to its stdin and returns the next JSON line it prints. */
  ask(line: string): Promise<Record<string, unknown>>;
}

/**
 * Starts `bun ...bunFlags <script> ...args`.
 * @param script - path of the script. @param args - its arguments. @param env - extra environment.
 * @param bunFlags - flags for Bun itself (e.g. `--cpu-prof`).
 */
export function spawnJsonLines(
  script: string,
  args: string[] = [],
  env: Record<string, string> = {},
  bunFlags: string[] = [],
): JsonLinesProcess {
  const p = spawn([process.execPath, ...bunFlags, script, ...args], {
    stdin: "pipe",
    stdout: "pipe",
    stderr: "inherit",
    env: { ...process.env, ...env },
  });
  const reader = p.stdout.getReader();
  const dec = new TextDecoder();
  let buf = "";
  const next = async (): Promise<Record<string, unknown>> => {
    for (;;) {
      const nl = buf.indexOf("\n");
      if (nl >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        return JSON.parse(line) as Record<string, unknown>;
      }
      const r = await reader.read();
      if (r.done) throw new Error(`${script} exited (${await p.exited})`);
      buf += dec.decode(r.value, { stream: true });
    }
  };
  return {
    p,
    next,
    async ask(line) {
      p.stdin.write(`${line}\n`);
      p.stdin.flush();
      return next();
    },
  };
}
