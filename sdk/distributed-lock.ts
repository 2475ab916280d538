/**
 * Scoped distributed locks (an `AsyncDisposable` lease, like a context manager) for
 * `await using lock = await sdk.distributedLock("name", { leaseMs })`.
 * Browser-safe: no `node:` or `bun:` imports.
 * @module
 */
import { type Client, Code, ConnectError } from "@connectrpc/connect";
import {
  type AcquireLockResponse,
  LockStatus,
  type ReleaseStatus,
  type SharedWorkingMemoryService,
} from "./gen/dcsm/v1/swm_service_pb.ts";

/** `Symbol.asyncDispose`, or its registered stand-in where the runtime lacks it (older browsers). */
export const asyncDispose: typeof Symbol.asyncDispose = (Symbol.asyncDispose ??
  Symbol.for("Symbol.asyncDispose")) as typeof Symbol.asyncDispose;

/** Lock defaults: the lease when `leaseMs` is not given, and `distributedLock`'s wait, ms. */
export const LOCK_DEFAULTS = Object.freeze({ leaseMs: 30_000, waitMs: 10_000 });

/** Options of `distributedLock` and `acquireDistributedLock`. */
export interface LockOptions {
  /** Lease length, ms (server bounds: 100 ms … 1 h; `InvalidArgument` outside). @default 30000 */
  leaseMs?: number;
  /** How long the server waits for a held lock before giving up, ms (0: do not wait; at most 300000). @default 10000 for `distributedLock`, 0 for `acquireDistributedLock` */
  waitMs?: number;
  /** Cancels the wait. */
  signal?: AbortSignal;
}

/** A held lock; release it with `release()` or by leaving an `await using` scope. */
export interface HeldLock extends AsyncDisposable {
  /** The locked resource. */
  readonly resourceId: string;
  /** Id of this grant. */
  readonly lockId: string;
  /**
   * Fencing token of this grant (grows with every grant of the resource): send it with each write
   * to the protected resource and have the resource reject tokens lower than the last one seen,
   * so a holder whose lease ran out cannot overwrite a newer holder's work.
   */
  readonly fencingToken: bigint;
  /** When the lease ends (unix ms) unless renewed. */
  readonly leaseExpiresAtMs: number;
  /** True until released. */
  readonly held: boolean;
  /**
   * Extends the lease by `leaseMs` from now (AcquireLock by the same agent renews).
   * @throws ConnectError `Aborted` when the lease was lost to another agent meanwhile.
   */
  renew(leaseMs?: number): Promise<void>;
  /** Releases the lock (idempotent). @returns the server's status (RELEASED, NOT_HELD when the lease had expired). */
  release(): Promise<ReleaseStatus>;
}

/**
 * Acquires `resourceId` and returns a {@link HeldLock}.
 * @throws ConnectError `Aborted` when the lock is held by another agent after `waitMs`
 *   (status TIMEOUT or NOT_AVAILABLE in the message); `InvalidArgument` for bad names or bounds.
 */
export async function holdLock(
  swm: Client<typeof SharedWorkingMemoryService>,
  agentId: string,
  resourceId: string,
  options: LockOptions = {},
  callTimeoutMs?: number,
): Promise<HeldLock> {
  const leaseMs = options.leaseMs ?? LOCK_DEFAULTS.leaseMs;
  const res: AcquireLockResponse = await swm.acquireLock(
    { resourceId, agentId, leaseDurationMs: leaseMs, timeoutMs: options.waitMs ?? LOCK_DEFAULTS.waitMs },
    { signal: options.signal, timeoutMs: callTimeoutMs },
  );
  if (res.status !== LockStatus.ACQUIRED && res.status !== LockStatus.ALREADY_HELD_BY_YOU) {
    throw new ConnectError(`lock ${resourceId} not acquired (${LockStatus[res.status]}): ${res.message}`, Code.Aborted);
  }
  let held = true;
  let expires = Number(res.leaseExpiresAtUnixMs);
  let releasing: Promise<ReleaseStatus> | undefined;
  const lock: HeldLock = {
    resourceId,
    lockId: res.lockId,
    fencingToken: res.fencingToken,
    get leaseExpiresAtMs() {
      return expires;
    },
    get held() {
      return held;
    },
    async renew(ms = leaseMs) {
      const r = await swm.acquireLock({ resourceId, agentId, leaseDurationMs: ms, timeoutMs: 0 });
      if (r.status !== LockStatus.ALREADY_HELD_BY_YOU || r.lockId !== res.lockId) {
        if (r.status === LockStatus.ACQUIRED) await swm.releaseLock({ resourceId, agentId, lockId: r.lockId });
        held = false;
        throw new ConnectError(`lock ${resourceId} was lost before renewal (${LockStatus[r.status]})`, Code.Aborted);
      }
      expires = Number(r.leaseExpiresAtUnixMs);
    },
    release() {
      releasing ??= swm.releaseLock({ resourceId, agentId, lockId: res.lockId }).then(
        (r) => {
          held = false;
          return r.status;
        },
        (err: unknown) => {
          releasing = undefined; // let a later release() try again
          throw err;
        },
      );
      return releasing;
    },
    async [asyncDispose]() {
      await lock.release();
    },
  };
  return lock;
}
