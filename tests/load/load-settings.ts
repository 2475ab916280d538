/**
 * Settings of the load test (agents-load.ts): their shape and how they are read from command-line
 * flags over `DCSM_LOAD_*` environment variables. The flags and their defaults are listed in
 * agents-load.ts.
 * @module
 */
import { DEFAULT_MIX, type LoadMix } from "./load-agent.ts";

/** Settings of one load run. */
export interface LoadSettings {
  /** Length of the load phase, s. */
  seconds: number;
  /** Concurrent agents. */
  agents: number;
  /** SWM backend. */
  swm: "redis" | "memory";
  /** Where to write the JSON report ("" for nowhere). */
  json: string;
  /** Share of agents holding an event stream, 0..1. */
  subscribers: number;
  /** Publish groups (subscribers listen to one each). */
  groups: number;
  /** Pause between an agent's operations, ms. */
  thinkMs: number;
  /** Operation mix. */
  mix: LoadMix;
  /** Length of the overload phase, s (0: none). */
  overloadSeconds: number;
  /** Offered call rate of the overload phase as a multiple of the closed loop's rate. */
  overloadFactor: number;
  /** Per-call deadline in the overload phase, ms. */
  deadlineMs: number;
}

/**
 * Reads settings from flags (`--name value` or `--name=value`) over `DCSM_LOAD_*` variables.
 * @throws Error for an unknown flag or a bad value.
 */
export function parseSettings(argv: string[], env: Record<string, string | undefined>): LoadSettings {
  const flags: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(argv[i]!);
    if (!m) throw new Error(`unexpected argument ${argv[i]}`);
    flags[m[1]!] = m[2] ?? argv[++i] ?? "";
  }
  const known = [
    "seconds",
    "agents",
    "swm",
    "json",
    "subscribers",
    "groups",
    "think-ms",
    "mix",
    "overload-seconds",
    "overload-factor",
    "deadline-ms",
  ];
  for (const k of Object.keys(flags))
    if (!known.includes(k)) throw new Error(`unknown flag --${k} (known: ${known.join(", ")})`);
  const get = (flag: string, name: string, dflt: string) => flags[flag] ?? env[name] ?? dflt;
  const num = (flag: string, name: string, dflt: number, min: number, max: number) => {
    const v = Number(get(flag, name, String(dflt)));
    if (!Number.isFinite(v) || v < min || v > max)
      throw new Error(`--${flag} / ${name} must be a number from ${min} to ${max}`);
    return v;
  };
  const swm = get("swm", "DCSM_LOAD_SWM", "redis");
  if (swm !== "redis" && swm !== "memory") throw new Error("--swm / DCSM_LOAD_SWM must be redis or memory");
  const mix: LoadMix = { ...DEFAULT_MIX };
  for (const part of get("mix", "DCSM_LOAD_MIX", "").split(",").filter(Boolean)) {
    const [k, v] = part.split("=");
    const key = k === "persist" ? "persistShare" : (k as keyof LoadMix);
    if (!(key in mix) || !Number.isFinite(Number(v)) || Number(v) < 0) throw new Error(`bad --mix entry ${part}`);
    mix[key] = Number(v);
  }
  return {
    seconds: num("seconds", "DCSM_LOAD_SECONDS", 60, 1, 3600),
    agents: Math.round(num("agents", "DCSM_LOAD_AGENTS", 200, 1, 5000)),
    swm,
    json: get("json", "DCSM_LOAD_JSON", ""),
    subscribers: num("subscribers", "DCSM_LOAD_SUBSCRIBERS", 0.25, 0, 1),
    groups: Math.round(num("groups", "DCSM_LOAD_GROUPS", 8, 1, 1000)),
    thinkMs: num("think-ms", "DCSM_LOAD_THINK_MS", 0, 0, 60_000),
    mix,
    overloadSeconds: num("overload-seconds", "DCSM_LOAD_OVERLOAD_SECONDS", 30, 0, 3600),
    overloadFactor: num("overload-factor", "DCSM_LOAD_OVERLOAD_FACTOR", 2, 1, 100),
    deadlineMs: num("deadline-ms", "DCSM_LOAD_DEADLINE_MS", 1000, 10, 60_000),
  };
}
