/**
 * How a load-test agent makes its calls in a phase (deadline, back-pressure retries) and where the
 * outcomes go (latency books, error counts), and which answers count as back-pressure.
 * @module
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { LatencyBook } from "./stats.ts";

/**
 * How an agent makes its calls in a phase of the load test, and where outcomes are recorded
 * (objects shared by all agents of the phase).
 */
export interface CallPolicy {
  /** Phase name, stamped on acknowledged publishes. */
  phase: string;
  /** Per-call deadline (sent as the RPC timeout), ms. */
  timeoutMs: number;
  /** Back-pressure retries after the first attempt (0: each call is made once). */
  retries: number;
  /** Latencies of successful calls by "<op>/<protocol>". */
  book: LatencyBook;
  /** Latencies of back-pressure answers by "<op>/<protocol>", ms. */
  refusals: LatencyBook;
  /** Error counts by "<op>/<protocol>". */
  errors: Record<string, ErrorCount>;
  /** Up to 10 distinct messages of errors other than back-pressure, for the report. */
  failureSamples: string[];
}

/** A {@link CallPolicy} with fresh books. */
export function newPolicy(phase: string, timeoutMs: number, retries: number): CallPolicy {
  return {
    phase,
    timeoutMs,
    retries,
    book: new LatencyBook(),
    refusals: new LatencyBook(),
    errors: {},
    failureSamples: [],
  };
}

/** Error counts of one operation key. */
export interface ErrorCount {
  /** Back-pressure answers (`ResourceExhausted`, `Unavailable`), each retried. */
  backpressure: number;
  /** Any other error. */
  failed: number;
}

const BACKPRESSURE = new Set([Code.ResourceExhausted, Code.Unavailable]);
/** True for the codes the load test treats as back-pressure. */
export function isBackpressure(err: unknown): boolean {
  return BACKPRESSURE.has(ConnectError.from(err).code);
}
