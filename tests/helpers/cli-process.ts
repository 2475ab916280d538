/** Running the `dcsm` CLI (`runtime/cli/main.ts`) as a child process, as a user would. */
import { join } from "node:path";
import { REPO_ROOT } from "../../runtime/config.ts";

/** Path of the CLI's entry point, for tests that spawn it themselves (long-running `serve`). */
export const CLI_MAIN = join(REPO_ROOT, "runtime/cli/main.ts");

/** What one CLI run printed and how it exited. */
export interface CliResult {
  stdout: string;
  stderr: string;
  /** The exit code. */
  code: number;
}

/**
 * Runs `dcsm <args>` with this process's environment plus `env` and waits for it to exit.
 * @returns its whole stdout and stderr (UTF-8) and its exit code.
 */
export async function runCli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  const proc = Bun.spawn([process.execPath, CLI_MAIN, ...args], {
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, ...env },
  });
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { stdout, stderr, code };
}
