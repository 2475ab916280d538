/**
 * Lua scripts of the Redis working set (layout: docs/redis-layout.md; why scripts:
 * docs/decisions/0006-redis-lua-scripts.md). Each script reads the old state and
 * writes the KEM hash, its metadata and date indexes, the reverse index and the event-log entry in
 * one atomic step: a MULTI/EXEC transaction cannot read the previous version's index entries and
 * `created_at` inside the transaction, a script can. Redis's own clock (`TIME`) stamps every write,
 * so all SWM processes sharing one Redis agree on `updated_at` order.
 *
 * Keys (with the configured prefix P): `P swm_kem:<id>` hash (the only keys with a TTL, so only
 * they are evictable under `volatile-lru`), `P swm_ref:<id>` hash of the KEM's indexed
 * metadata (key → value, used to clean indexes after eviction), `P swm_idx:meta:<key>:<value>`
 * sets, `P swm_idx:date:created_at` / `updated_at` sorted sets (score: µs since epoch),
 * `P swm_events:seq` counter and `P swm_events` stream (entry id `<seq>-0`).
 * Single-instance Redis 7+ only (index keys are derived inside the scripts). Scripts declare flags
 * (`#!lua`): a put is refused with OOM up front when Redis is full of data it cannot evict, while
 * removals (`allow-oom`) still run, since they free more than they add.
 * @module
 */
import { microsToIso } from "../../common/time.ts";

const COMMON = `
local P = ARGV[1]
local function iso(us)
  local s = math.floor(us / 1000000)
  local frac = us - s * 1000000
  local days = math.floor(s / 86400)
  local sod = s - days * 86400
  local z = days + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524) - math.floor(doe / 146096)) / 365)
  local y = yoe + era * 400
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local d = doy - math.floor((153 * mp + 2) / 5) + 1
  local m = mp < 10 and mp + 3 or mp - 9
  if m <= 2 then y = y + 1 end
  return string.format('%04d-%02d-%02dT%02d:%02d:%02d.%06dZ', y, m, d, math.floor(sod / 3600), math.floor((sod % 3600) / 60), sod % 60, frac)
end
local function now_us()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local function event(kind, id, agent, details, md, updated, maxlen, t_us)
  -- A new log starts its sequence at the current time in µs, so resume points from a lost log
  -- (Redis restarted empty) are always older than it and get RELOAD_REQUIRED.
  if redis.call('SETNX', P .. 'swm_events:seq', string.format('%d', t_us)) == 1 then
    redis.call('SET', P .. 'swm_events:base', string.format('%d', t_us))
  end
  local seq = redis.call('INCR', P .. 'swm_events:seq')
  redis.call('XADD', P .. 'swm_events', 'MAXLEN', '~', maxlen, string.format('%d-0', seq),
    'k', kind, 'id', id, 'a', agent, 't', string.format('%d', math.floor(t_us / 1000)), 'd', details, 'm', md, 'u', string.format('%d', updated))
  return seq
end
local function unindex(id)
  local ref = P .. 'swm_ref:' .. id
  local pairs_ = redis.call('HGETALL', ref)
  local md = {}
  for i = 1, #pairs_, 2 do
    redis.call('SREM', P .. 'swm_idx:meta:' .. pairs_[i] .. ':' .. pairs_[i + 1], id)
    md[pairs_[i]] = pairs_[i + 1]
  end
  redis.call('DEL', ref)
  return md
end
`;

/**
 * PUT: writes or refreshes a cached KEM (timestamps-only refreshes go through {@link TOUCH_SCRIPT}).
 * ARGV is built by {@link putScriptArgs} (one field per position, in {@link PutScriptArgs}' order),
 * then the indexed metadata as key, value pairs. With a queue stream (ARGV[15]) the script also
 * appends the KEM, as now cached, to that write-behind stream (fields `key`, the idempotency key
 * ARGV[16], and `kem`, the record in format 1 of `services/write-behind/codec.ts`), so the cache
 * and the queue change in one atomic step.
 * Returns {existed 0/1, sequence, created µs, updated µs, queue entry id or 0}, or {-1} when a
 * refresh found another version.
 */
export const PUT_SCRIPT = `#!lua
${COMMON}
local mode, id = ARGV[2], ARGV[3]
local kem = P .. 'swm_kem:' .. id
local prev = redis.call('HMGET', kem, 'created_at_us', 'updated_at_us')
local existed = prev[1] ~= false
local created, updated
local t = now_us()
if mode == 'refresh' then
  if not existed or prev[2] ~= ARGV[12] then return {-1} end
  created, updated = tonumber(ARGV[13]), tonumber(ARGV[14])
elseif mode == 'load' then
  created, updated = tonumber(ARGV[13]), tonumber(ARGV[14])
else
  created = existed and tonumber(prev[1]) or t
  updated = t
  if existed and updated <= tonumber(prev[2]) then updated = tonumber(prev[2]) + 1 end
end
unindex(id)
local ref = P .. 'swm_ref:' .. id
for i = 17, #ARGV, 2 do
  redis.call('SADD', P .. 'swm_idx:meta:' .. ARGV[i] .. ':' .. ARGV[i + 1], id)
  redis.call('HSET', ref, ARGV[i], ARGV[i + 1])
end
if existed then redis.call('DEL', kem) end
local uiso = iso(updated)
local fields = {'id', id, 'content_type', ARGV[4], 'content', ARGV[5], 'metadata', ARGV[6],
  'created_at', created == updated and uiso or iso(created), 'updated_at', uiso,
  'created_at_ts', string.format('%d', math.floor(created / 1000000)), 'updated_at_ts', string.format('%d', math.floor(updated / 1000000)),
  'created_at_us', string.format('%d', created), 'updated_at_us', string.format('%d', updated)}
if ARGV[7] ~= '' then fields[#fields + 1] = 'embeddings'; fields[#fields + 1] = ARGV[7] end
redis.call('HSET', kem, unpack(fields))
redis.call('PEXPIRE', kem, ARGV[8])
redis.call('ZADD', P .. 'swm_idx:date:created_at', created, id)
redis.call('ZADD', P .. 'swm_idx:date:updated_at', updated, id)
local seq = event(existed and 'updated' or 'published', id, ARGV[9], ARGV[10], ARGV[6], updated, ARGV[11], t)
local entry = 0
if ARGV[15] ~= '' then
  local ct, content, md, emb = ARGV[4], ARGV[5], ARGV[6], ARGV[7]
  local rec = struct.pack('<BBdd', 1, emb ~= '' and 1 or 0, created, updated)
    .. struct.pack('<I4', #id) .. id .. struct.pack('<I4', #ct) .. ct
    .. struct.pack('<I4', #content) .. content .. struct.pack('<I4', #md) .. md
    .. struct.pack('<I4', #emb / 4) .. emb
  entry = redis.call('XADD', ARGV[15], '*', 'key', ARGV[16], 'kem', rec)
end
return {existed and 1 or 0, seq, created, updated, entry}
`;

/** Fields per KEM in a {@link TOUCH_SCRIPT} call. */
export const TOUCH_FIELDS = 8;

/**
 * TOUCH: refreshes the timestamps of several cached KEMs, each only while its cached version is the
 * one expected, leaving content, metadata, embedding and metadata indexes as cached (the
 * write-behind refresh with GLM's version when GLM stored what was queued). ARGV is built by
 * {@link touchScriptArgs}: prefix, TTL, agent, details and event MAXLEN, then per KEM
 * {@link TOUCH_FIELDS} fields (id, expected `updated_at` µs, then `created_at` and `updated_at` as µs, ISO
 * text and Unix seconds, formatted by the caller). Emits KEM_UPDATED per KEM touched.
 * Returns 1 (touched) or 0 (changed or gone meanwhile) per KEM, in order.
 */
export const TOUCH_SCRIPT = `#!lua
${COMMON}
local ttl, agent, details, maxlen = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local t = now_us()
local out = {}
for i = 6, #ARGV, ${TOUCH_FIELDS} do
  local id = ARGV[i]
  local kem = P .. 'swm_kem:' .. id
  local prev = redis.call('HMGET', kem, 'updated_at_us', 'metadata')
  if prev[1] ~= ARGV[i + 1] then
    out[#out + 1] = 0
  else
    redis.call('HSET', kem, 'created_at_us', ARGV[i + 2], 'updated_at_us', ARGV[i + 3],
      'created_at', ARGV[i + 4], 'updated_at', ARGV[i + 5], 'created_at_ts', ARGV[i + 6], 'updated_at_ts', ARGV[i + 7])
    redis.call('PEXPIRE', kem, ttl)
    redis.call('ZADD', P .. 'swm_idx:date:created_at', ARGV[i + 2], id)
    redis.call('ZADD', P .. 'swm_idx:date:updated_at', ARGV[i + 3], id)
    event('updated', id, agent, details, prev[2] or '{}', tonumber(ARGV[i + 3]), maxlen, t)
    out[#out + 1] = 1
  end
end
return out
`;

/** The fields of a {@link TOUCH_SCRIPT} call. */
export interface TouchScriptArgs {
  /** Key prefix P (ARGV[1]). */
  prefix: string;
  /** Hash TTL in ms (ARGV[2]). */
  ttlMs: string;
  /** Agent named in the events (ARGV[3]). */
  agentId: string;
  /** Event details (ARGV[4]). */
  details: string;
  /** Event stream MAXLEN (ARGV[5]). */
  eventMaxlen: string;
  /** The KEMs: id, the cached version expected and the timestamps to write, µs. */
  items: readonly { id: string; expectedUpdatedUs: number; createdUs: number; updatedUs: number }[];
}

/** ARGV of a {@link TOUCH_SCRIPT} call (timestamps formatted here, as the PUT script formats them). */
export function touchScriptArgs(a: TouchScriptArgs): string[] {
  const out = [a.prefix, a.ttlMs, a.agentId, a.details, a.eventMaxlen];
  for (const k of a.items)
    out.push(
      k.id,
      String(k.expectedUpdatedUs),
      String(k.createdUs),
      String(k.updatedUs),
      microsToIso(k.createdUs),
      microsToIso(k.updatedUs),
      String(Math.floor(k.createdUs / 1_000_000)),
      String(Math.floor(k.updatedUs / 1_000_000)),
    );
  return out;
}

/**
 * REMOVE: ARGV is built by {@link removeScriptArgs}. "delete" removes a cached KEM;
 * "evicted"/"expired" clean the indexes of a KEM whose hash is already gone (eviction, expiry, or a
 * stale id found by a reader). Only the first caller for a given removal emits the event
 * (idempotent across processes).
 * Returns the event sequence number, or 0 when there was nothing to do.
 */
export const REMOVE_SCRIPT = `#!lua flags=allow-oom
${COMMON}
local mode, id = ARGV[2], ARGV[3]
local kem = P .. 'swm_kem:' .. id
if mode == 'delete' then
  if redis.call('DEL', kem) == 0 then return 0 end
elseif redis.call('EXISTS', kem) == 1 then
  return 0
end
local was = redis.call('ZREM', P .. 'swm_idx:date:updated_at', id)
redis.call('ZREM', P .. 'swm_idx:date:created_at', id)
local md = unindex(id)
if was == 0 and mode ~= 'delete' then return 0 end
local json = next(md) == nil and '{}' or cjson.encode(md)
return event(mode == 'delete' and 'deleted' or 'evicted', id, ARGV[4], ARGV[5], json, 0, ARGV[6], now_us())
`;

/** A script argument: text, or bytes passed to Redis as they are. */
export type ScriptArg = string | Buffer;

/** The fields of a {@link PUT_SCRIPT} call, in ARGV order (ARGV[1] … ARGV[16], then the pairs). */
export interface PutScriptArgs {
  /** Key prefix P (ARGV[1]). */
  prefix: string;
  /**
   * ARGV[2]: "put" stamps new timestamps; "refresh" and "load" keep `createdUs`/`updatedUs`
   * ("refresh" only while the cached version is `expectedUpdatedUs`).
   */
  mode: "put" | "refresh" | "load";
  /** KEM id (ARGV[3]). */
  id: string;
  /** MIME type (ARGV[4]). */
  contentType: string;
  /** Content bytes (ARGV[5]). */
  content: ScriptArg;
  /** Metadata as JSON (ARGV[6]). */
  metadataJson: string;
  /** Embedding as little-endian float32 bytes, "" for none (ARGV[7]). */
  embedding: ScriptArg;
  /** Hash TTL in ms (ARGV[8]). */
  ttlMs: string;
  /** Agent named in the event (ARGV[9]). */
  agentId: string;
  /** Event details (ARGV[10]). */
  details: string;
  /** Event stream MAXLEN (ARGV[11]). */
  eventMaxlen: string;
  /** Cached version a refresh expects, µs; "" otherwise (ARGV[12]). */
  expectedUpdatedUs: string;
  /** Timestamps kept by refresh and load, µs; "" for a put (ARGV[13], ARGV[14]). */
  createdUs: string;
  updatedUs: string;
  /** Write-behind stream (full key) a put also queues the KEM on; "" for none (ARGV[15]). */
  queueKey: string;
  /** Idempotency key of the queue entry; "" without a queue (ARGV[16]). */
  idempotencyKey: string;
  /** Indexed metadata as key, value, key, value… (ARGV[17] on). */
  indexedPairs: string[];
}

/** ARGV of a {@link PUT_SCRIPT} call. */
export function putScriptArgs(a: PutScriptArgs): ScriptArg[] {
  return [
    a.prefix,
    a.mode,
    a.id,
    a.contentType,
    a.content,
    a.metadataJson,
    a.embedding,
    a.ttlMs,
    a.agentId,
    a.details,
    a.eventMaxlen,
    a.expectedUpdatedUs,
    a.createdUs,
    a.updatedUs,
    a.queueKey,
    a.idempotencyKey,
    ...a.indexedPairs,
  ];
}

/** The fields of a {@link REMOVE_SCRIPT} call, in ARGV order. */
export interface RemoveScriptArgs {
  /** Key prefix P (ARGV[1]). */
  prefix: string;
  /** ARGV[2]: "delete" a cached KEM, or clean up after one that was "evicted" or "expired". */
  mode: "delete" | "evicted" | "expired";
  /** KEM id (ARGV[3]). */
  id: string;
  /** Agent named in the event (ARGV[4]). */
  agentId: string;
  /** Event details (ARGV[5]). */
  details: string;
  /** Event stream MAXLEN (ARGV[6]). */
  eventMaxlen: string;
}

/** ARGV of a {@link REMOVE_SCRIPT} call. */
export function removeScriptArgs(a: RemoveScriptArgs): ScriptArg[] {
  return [a.prefix, a.mode, a.id, a.agentId, a.details, a.eventMaxlen];
}
