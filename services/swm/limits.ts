/**
 * Explicit limits of the SWM service, each enforced with a clear error and tested.
 * @module
 */

/** SWM limits. Defaults in {@link DEFAULT_SWM_LIMITS}. */
export interface SwmLimits {
  /** Longest resource, counter and agent id, in characters. @default 256 */
  maxNameLength: number;
  /** Lease used when a request gives 0, ms. @default 30000 */
  defaultLeaseMs: number;
  /** Shortest lease, ms. @default 100 */
  minLeaseMs: number;
  /** Longest lease, ms. @default 3600000 (1 h) */
  maxLeaseMs: number;
  /** Longest AcquireLock wait (`timeout_ms`), ms. @default 300000 (5 min) */
  maxLockWaitMs: number;
  /** Open event streams per process; more fail with `ResourceExhausted`. @default 1000 */
  maxSubscribers: number;
  /** Open event streams per principal (API key id or JWT subject) per process; more fail with `ResourceExhausted`. @default 100 */
  maxSubscribersPerPrincipal: number;
  /** Events buffered per subscriber; a slower consumer is dropped with `ResourceExhausted`. @default 1000 */
  subscriberBuffer: number;
  /** Topics per subscription. @default 100 */
  maxTopics: number;
  /** A HEARTBEAT event is sent after this long without events, ms. @default 15000 */
  heartbeatMs: number;
  /** LoadKEMsFromGLM `limit` when 0. @default 100 */
  defaultLoadLimit: number;
  /** Largest LoadKEMsFromGLM `limit`. @default 1000 */
  maxLoadLimit: number;
}

/** Default SWM limits. */
export const DEFAULT_SWM_LIMITS: Readonly<SwmLimits> = Object.freeze({
  maxNameLength: 256,
  defaultLeaseMs: 30_000,
  minLeaseMs: 100,
  maxLeaseMs: 3_600_000,
  maxLockWaitMs: 300_000,
  maxSubscribers: 1000,
  maxSubscribersPerPrincipal: 100,
  subscriberBuffer: 1000,
  maxTopics: 100,
  heartbeatMs: 15_000,
  defaultLoadLimit: 100,
  maxLoadLimit: 1000,
});
