/**
 * Admission control: a bound on the unary RPCs in progress, per process and per principal. Both
 * hosts take a slot right after authenticating a call from its headers, before its body is read,
 * and give it back when the response is complete; a call that finds no slot is answered
 * `ResourceExhausted` at once, with `retry-after` (seconds, RFC 9110 10.2.3) among the response
 * headers (HTTP header on Connect; trailers-only headers on gRPC and gRPC-Web). One principal can
 * therefore never take more than its share of the process, and an overloaded process answers in
 * milliseconds instead of queueing without bound. Streaming calls (event and health streams) are
 * bounded by their own caps, not here.
 *
 * With a {@link LoopLagMonitor}, a call is also refused while the process's event loop is
 * congested (`loop-lag.ts`): the in-flight bound caps how much work is admitted, the lag check
 * whether the process actually keeps up with it. The checks that need no principal (process full,
 * loop congested) are also offered alone ({@link Admission.refuseEarly}) so that the hosts can
 * refuse before authenticating or routing a call (`fast-refusal.ts`). Why and how it was
 * measured: docs/overload.md.
 * @module
 */
import { Code, ConnectError } from "@connectrpc/connect";
import type { LoopLagMonitor } from "./loop-lag.ts";

/** Admission limits. */
export interface AdmissionLimits {
  /** Most unary RPCs in progress in the process. */
  maxInFlight: number;
  /** Most unary RPCs in progress per principal. */
  maxInFlightPerPrincipal: number;
  /** Seconds sent in `retry-after` with a refusal. */
  retryAfterSeconds: number;
}

/** Counters of an {@link Admission}. */
export interface AdmissionStats {
  /** Unary RPCs in progress now. */
  inFlight: number;
  /** Calls refused since start because the process was full. */
  refusedProcess: number;
  /** Calls refused since start because their principal was at its limit. */
  refusedPrincipal: number;
  /** Calls refused since start because the event loop was congested. */
  refusedCongested: number;
}

/** The admission controller shared by both hosts. */
export interface Admission {
  /**
   * Takes a slot for `principalId`.
   * @returns the release function (call it once, when the response is complete), or the
   *   `ResourceExhausted` error to answer with (its metadata carries `retry-after`).
   */
  enter(principalId: string): (() => void) | ConnectError;
  /**
   * The refusal due to any caller now, from the process-wide checks alone (process full, event
   * loop congested), or undefined when a call may proceed to authentication and {@link enter}.
   * Its message is the same for every call of one cause, so the hosts may encode it once.
   */
  refuseEarly(): ConnectError | undefined;
  /** True when {@link refuseEarly} would refuse now; counts nothing (a cheap test for the hosts' hot path). */
  busy(): boolean;
  /** Current counters. */
  stats(): AdmissionStats;
}

/**
 * Creates the controller.
 * @param limits - the in-flight bounds and `retry-after`.
 * @param loopLag - when given, calls are also refused while it reports the event loop congested
 *   (the monitor stays the caller's to stop).
 * @throws RangeError for a limit below 1.
 */
export function createAdmission(limits: AdmissionLimits, loopLag?: LoopLagMonitor): Admission {
  for (const [k, v] of Object.entries(limits))
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`${k} must be an integer >= 1`);
  let inFlight = 0;
  const byPrincipal = new Map<string, number>();
  const stats = { refusedProcess: 0, refusedPrincipal: 0, refusedCongested: 0 };
  const refuse = (message: string) =>
    new ConnectError(message, Code.ResourceExhausted, { "retry-after": String(limits.retryAfterSeconds) });
  const full = refuse(
    `the server has ${limits.maxInFlight} calls in progress, its limit; retry after ${limits.retryAfterSeconds} s`,
  );
  const congested = refuse(
    `the server is congested (its event loop is running late); retry after ${limits.retryAfterSeconds} s`,
  );
  const processRefusal = (): ConnectError | undefined => {
    if (inFlight >= limits.maxInFlight) {
      stats.refusedProcess++;
      return full;
    }
    if (loopLag?.congested()) {
      stats.refusedCongested++;
      return congested;
    }
    return undefined;
  };
  return {
    refuseEarly: processRefusal,
    busy: () => inFlight >= limits.maxInFlight || (loopLag?.congested() ?? false),
    enter(principalId) {
      const mine = byPrincipal.get(principalId) ?? 0;
      if (mine >= limits.maxInFlightPerPrincipal) {
        stats.refusedPrincipal++;
        return refuse(
          `${principalId} already has ${limits.maxInFlightPerPrincipal} calls in progress, the limit per principal; retry after ${limits.retryAfterSeconds} s`,
        );
      }
      const refusal = processRefusal();
      if (refusal) return refusal;
      inFlight++;
      byPrincipal.set(principalId, mine + 1);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        inFlight--;
        const left = (byPrincipal.get(principalId) ?? 1) - 1;
        if (left > 0) byPrincipal.set(principalId, left);
        else byPrincipal.delete(principalId);
      };
    },
    stats: () => ({ inFlight, ...stats }),
  };
}
