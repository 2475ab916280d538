/**
 * Run metadata written with every result file: date, runtime versions, machine, load average and
 * commit.
 * @module
 */
import { execSync } from "node:child_process";
import { cpus, loadavg, totalmem } from "node:os";

/** Metadata of a bench run (`--json` header). */
export interface RunInfo {
  /** ISO date of the run. */
  date: string;
  /** Bun version. */
  bun: string;
  /** Node version Bun reports (compat level). */
  node: string;
  /** Redis server version, when installed. */
  redis: string;
  /** "2 × <cpu model>, 8 GiB, linux x64". */
  machine: string;
  /** 1/5/15-minute load averages at the start. */
  loadBefore: number[];
  /** Short commit hash. */
  commit: string;
  /** True when the working tree had uncommitted changes. */
  dirty: boolean;
}

function sh(cmd: string): string {
  try {
    return execSync(cmd, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    return "";
  }
}

/** Collects the metadata of this run. */
export function runInfo(): RunInfo {
  const c = cpus();
  return {
    date: new Date().toISOString(),
    bun: Bun.version,
    node: process.versions.node ?? "",
    redis: /v=(\S+)/.exec(sh("redis-server --version"))?.[1] ?? "",
    machine: `${c.length} × ${c[0]?.model.trim() ?? "cpu"}, ${Math.round(totalmem() / 2 ** 30)} GiB, ${process.platform} ${process.arch}`,
    loadBefore: loadavg().map((x) => Math.round(x * 100) / 100),
    commit: sh("git rev-parse --short HEAD") || "unknown",
    dirty: sh("git status --porcelain -- bench services sdk runtime") !== "",
  };
}
