/**
 * In-process locks and counters for the embedded SWM (the Redis ones, docs/redis-layout.md, scoped
 * to one process). Leases are checked against `Date.now()`; fencing tokens
 * come from one process-wide counter, so every grant gets a larger token than any earlier grant.
 * @module
 */
import { InvalidInputError } from "../../common/errors.ts";
import type { CounterStore, LockAttempt, LockInfo, LockStore, ReleaseOutcome } from "../ports.ts";

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** Creates an in-process {@link LockStore}. */
export function createMemoryLockStore(): LockStore {
  const locks = new Map<string, LockInfo>();
  let fence = 0;
  const live = (resourceId: string): LockInfo | null => {
    const l = locks.get(resourceId);
    if (!l) return null;
    if (l.expiresAtMs <= Date.now()) {
      locks.delete(resourceId);
      return null;
    }
    return l;
  };
  return {
    async tryAcquire(resourceId, agentId, lockId, leaseMs): Promise<LockAttempt> {
      const cur = live(resourceId);
      const now = Date.now();
      if (cur && cur.agentId === agentId) {
        cur.expiresAtMs = now + leaseMs;
        return { status: "renewed", lock: { ...cur } };
      }
      if (cur) return { status: "held", lock: { ...cur } };
      const lock: LockInfo = {
        resourceId,
        agentId,
        lockId,
        acquiredAtMs: now,
        expiresAtMs: now + leaseMs,
        fencingToken: ++fence,
      };
      locks.set(resourceId, lock);
      return { status: "acquired", lock: { ...lock } };
    },
    async release(resourceId, agentId, lockId): Promise<ReleaseOutcome> {
      const cur = live(resourceId);
      if (!cur) return "not_held";
      if (cur.agentId !== agentId || cur.lockId !== lockId) return "invalid_lock_id";
      locks.delete(resourceId);
      return "released";
    },
    async info(resourceId) {
      const cur = live(resourceId);
      return cur ? { ...cur } : null;
    },
  };
}

/** Creates an in-process {@link CounterStore} (exact 64-bit arithmetic with bigint). */
export function createMemoryCounterStore(): CounterStore {
  const counters = new Map<string, bigint>();
  return {
    async increment(counterId, by) {
      const next = (counters.get(counterId) ?? 0n) + by;
      if (next < INT64_MIN || next > INT64_MAX)
        throw new InvalidInputError(`counter ${counterId} would leave the int64 range`);
      counters.set(counterId, next);
      return next;
    },
    async get(counterId) {
      return counters.get(counterId) ?? 0n;
    },
  };
}
