/**
 * Reading `--json` result files (for `bench:compare` and `bench:report`).
 * @module
 */
import { readFileSync } from "node:fs";
import type { RunInfo } from "./run-info.ts";
import type { BenchResult } from "./stats.ts";

/** A `--json` result file. */
export interface ResultsFile extends RunInfo {
  /** Load averages at the end. */
  loadAfter?: number[];
  /** Wall time of the run, s. */
  seconds?: number;
  /** Repeats per case. */
  repeats?: number;
  /** The case filter of the run, or null for all. */
  filter?: string | null;
  /** Results in run order. */
  results: BenchResult[];
}

/**
 * Reads and checks a result file.
 * @throws Error when the file is not a bench result file.
 */
export function readResults(path: string): ResultsFile {
  const doc = JSON.parse(readFileSync(path, "utf8")) as ResultsFile;
  if (!Array.isArray(doc.results)) throw new Error(`${path} is not a bench result file (no results array)`);
  return doc;
}
