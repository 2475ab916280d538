/**
 * Redis locks and counters shared by every SWM process on one Redis (docs/redis-layout.md
 * "Locks and counters").
 *
 * A lock is a hash `swm_lock:<resource>` (agent, lock_id, acquired, expires, fence) with no Redis
 * TTL: leases are checked in Lua against Redis's own clock (`TIME`), so all processes agree on
 * expiry and `volatile-lru` eviction can never drop a live lock. Fencing tokens come from one
 * counter `swm_lock:fence` incremented inside the grant script: every grant gets a larger token.
 * Counters are `swm_counter:<id>` strings updated with INCRBY (atomic, int64).
 * @module
 */
import { InvalidInputError } from "../../common/errors.ts";
import type { CounterStore, LockAttempt, LockInfo, LockStore, ReleaseOutcome } from "../ports.ts";
import type { RedisConnection } from "../redis/connection.ts";

const NOW = `local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

/** ARGV: agent, lock id, lease ms. Returns {status, agent, lock_id, acquired, expires, fence}. */
const ACQUIRE = `${NOW}
local h = redis.call('HMGET', KEYS[1], 'agent', 'lock_id', 'acquired', 'expires', 'fence')
if h[1] and tonumber(h[4]) > now then
  if h[1] == ARGV[1] then
    local exp = now + tonumber(ARGV[3])
    redis.call('HSET', KEYS[1], 'expires', exp)
    return {'renewed', h[1], h[2], tonumber(h[3]), exp, tonumber(h[5])}
  end
  return {'held', h[1], h[2], tonumber(h[3]), tonumber(h[4]), tonumber(h[5])}
end
local fence = redis.call('INCR', KEYS[2])
local exp = now + tonumber(ARGV[3])
redis.call('HSET', KEYS[1], 'agent', ARGV[1], 'lock_id', ARGV[2], 'acquired', now, 'expires', exp, 'fence', fence)
return {'acquired', ARGV[1], ARGV[2], now, exp, fence}`;

/** ARGV: agent, lock id. Returns "released" | "not_held" | "invalid_lock_id". */
const RELEASE = `${NOW}
local h = redis.call('HMGET', KEYS[1], 'agent', 'lock_id', 'expires')
if not h[1] or tonumber(h[3]) <= now then
  redis.call('DEL', KEYS[1])
  return 'not_held'
end
if h[1] ~= ARGV[1] or h[2] ~= ARGV[2] then return 'invalid_lock_id' end
redis.call('DEL', KEYS[1])
return 'released'`;

/** Returns {agent, lock_id, acquired, expires, fence} or an empty array when free. */
const INFO = `${NOW}
local h = redis.call('HMGET', KEYS[1], 'agent', 'lock_id', 'acquired', 'expires', 'fence')
if not h[1] or tonumber(h[4]) <= now then return {} end
return {h[1], h[2], tonumber(h[3]), tonumber(h[4]), tonumber(h[5])}`;

type Reply = [string, string, string, number, number, number];

/**
 * Creates the Redis {@link LockStore}.
 * @param redis - connection.
 * @param prefix - key prefix. @default ""
 */
export function createRedisLockStore(redis: RedisConnection, prefix = ""): LockStore {
  const key = (r: string) => `${prefix}swm_lock:${r}`;
  const fenceKey = `${prefix}swm_lock:fence`;
  const toInfo = (
    resourceId: string,
    agentId: string,
    lockId: string,
    acq: number,
    exp: number,
    fence: number,
  ): LockInfo => ({
    resourceId,
    agentId,
    lockId,
    acquiredAtMs: Number(acq),
    expiresAtMs: Number(exp),
    fencingToken: Number(fence),
  });
  return {
    async tryAcquire(resourceId, agentId, lockId, leaseMs): Promise<LockAttempt> {
      const [status, a, l, acq, exp, fence] = await redis.script<Reply>(
        ACQUIRE,
        [key(resourceId), fenceKey],
        [agentId, lockId, String(leaseMs)],
      );
      return {
        status: status as LockAttempt["status"],
        lock: toInfo(resourceId, a, l, acq, exp, fence),
      } as LockAttempt;
    },
    async release(resourceId, agentId, lockId) {
      return (await redis.script<string>(RELEASE, [key(resourceId)], [agentId, lockId])) as ReleaseOutcome;
    },
    async info(resourceId) {
      const r = await redis.script<[string, string, number, number, number] | []>(INFO, [key(resourceId)], []);
      if (r.length === 0) return null;
      const [a, l, acq, exp, fence] = r as [string, string, number, number, number];
      return toInfo(resourceId, a, l, acq, exp, fence);
    },
  };
}

/**
 * Creates the Redis {@link CounterStore}: INCRBY on `swm_counter:<id>`, values read as exact
 * decimal strings.
 * @param redis - connection.
 * @param prefix - key prefix. @default ""
 */
export function createRedisCounterStore(redis: RedisConnection, prefix = ""): CounterStore {
  const key = (c: string) => `${prefix}swm_counter:${c}`;
  return {
    async increment(counterId, by) {
      try {
        return BigInt(await redis.exact<string>(["INCRBY", key(counterId), by.toString()]));
      } catch (err) {
        if (err instanceof Error && /overflow/i.test(err.message))
          throw new InvalidInputError(`counter ${counterId} would leave the int64 range`, { cause: err });
        throw err;
      }
    },
    async get(counterId) {
      const v = await redis.cmd<string | null>(["GET", key(counterId)]);
      return v === null ? 0n : BigInt(v);
    },
  };
}
