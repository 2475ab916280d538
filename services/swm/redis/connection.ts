/**
 * Redis connection for the SWM backends: one node-redis client (never Bun's built-in client, which
 * damages binary fields and has no MULTI; docs/decisions/0005-node-redis-client.md), with typed helpers that
 * return binary-safe `Buffer`s, plain strings, or exact 64-bit integers as strings, and Lua
 * scripts run by SHA with a NOSCRIPT fallback. Driver errors become named DCSM errors.
 * @module
 */
import { createHash } from "node:crypto";
import diagnostics from "node:diagnostics_channel";
import { createClient, RESP_TYPES } from "redis";
import { BackendUnavailableError, LimitExceededError } from "../../common/errors.ts";

/** An argument of a Redis command. */
export type RedisArg = string | Buffer;

const BINARY = { [RESP_TYPES.BLOB_STRING]: Buffer } as const;
const EXACT_INTEGERS = { [RESP_TYPES.NUMBER]: String } as const;

/** A connected Redis client with the helpers the SWM backends use. */
export interface RedisConnection {
  /** Runs a command; bulk strings come back as JS strings (UTF-8). */
  cmd<T = unknown>(args: RedisArg[]): Promise<T>;
  /** Runs a command; bulk strings come back as `Buffer`s (binary-safe). */
  bin<T = unknown>(args: RedisArg[]): Promise<T>;
  /** Runs a command; integers come back as decimal strings (exact beyond 2^53). */
  exact<T = unknown>(args: RedisArg[]): Promise<T>;
  /** Runs a Lua script by SHA (loading it on NOSCRIPT) with `keys` and `args`. */
  script<T = unknown>(source: string, keys: RedisArg[], args: RedisArg[], binary?: boolean): Promise<T>;
  /** A second connection to the same server (for blocking reads and pub/sub). */
  duplicate(): Promise<RedisConnection>;
  /** Subscribes to a pub/sub channel (this connection becomes a subscriber). */
  subscribe(channel: string, onMessage: (message: string, channel: string) => void): Promise<void>;
  /** Closes the connection (`force`: at once, failing pending commands). Idempotent. */
  close(force?: boolean): Promise<void>;
}

/** The part of the node-redis client used here (its full generic type is impractical to spell). */
interface Client {
  connect(): Promise<unknown>;
  sendCommand(args: RedisArg[], options?: { typeMapping?: never }): Promise<unknown>;
  subscribe(channel: string, listener: (message: string, channel: string) => void): Promise<void>;
  on(event: "error" | "ready", listener: (err: unknown) => void): unknown;
  close(): Promise<void>;
  destroy(): void;
}

/**
 * Maps a driver error: OOM → `LimitExceededError` (→ `ResourceExhausted`), connection problems
 * (refused, reset, closed, client offline while reconnecting, Redis loading its data) →
 * `BackendUnavailableError` (→ `Unavailable`); other Redis errors pass through (→ `Internal`).
 */
export function mapRedisError(err: unknown): unknown {
  const msg = err instanceof Error ? err.message : String(err);
  if (msg.startsWith("OOM"))
    return new LimitExceededError("SWM Redis is out of memory (maxmemory reached with nothing evictable)", {
      cause: err,
    });
  const name = err instanceof Error ? err.constructor.name : "";
  // ClientOfflineError ("The client is offline"): a command issued while the client reconnects
  // (offline queue disabled) — the common case while Redis restarts.
  if (
    /ClientClosed|ClientOffline|SocketClosed|Connection|Timeout|Reconnect/i.test(name) ||
    /ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|offline|closed|connect|LOADING|READONLY/i.test(
      msg,
    )
  ) {
    return new BackendUnavailableError("SWM Redis is unavailable, retry later", { cause: err });
  }
  return err;
}

/**
 * Bun's `diagnostics_channel.TracingChannel` lacks `hasSubscribers` (Node has it since 22.0), and
 * node-redis then traces every command as if something listened: it turns every argument of
 * `EVALSHA` into a string (the KEM's content and embedding bytes included) for a trace nobody
 * reads — a tenth of the CPU time of the Redis write-behind bench. This gives the prototype the
 * getter Node defines (true when any of its five channels has subscribers), so tracing still
 * works when a subscriber (an OpenTelemetry instrumentation) is attached.
 */
function addTracingChannelHasSubscribers(): void {
  if (typeof diagnostics.tracingChannel !== "function") return;
  const probe = diagnostics.tracingChannel("dcsm:probe");
  if ("hasSubscribers" in probe) return;
  const proto = Object.getPrototypeOf(probe) as object;
  if (proto === Object.prototype) return;
  Object.defineProperty(proto, "hasSubscribers", {
    configurable: true,
    get(this: Record<"start" | "end" | "asyncStart" | "asyncEnd" | "error", { hasSubscribers: boolean }>) {
      return (
        this.start.hasSubscribers ||
        this.end.hasSubscribers ||
        this.asyncStart.hasSubscribers ||
        this.asyncEnd.hasSubscribers ||
        this.error.hasSubscribers
      );
    },
  });
}
addTracingChannelHasSubscribers();

const shaOf = new Map<string, string>();
function sha1(text: string): string {
  let s = shaOf.get(text);
  if (!s) {
    s = createHash("sha1").update(text).digest("hex");
    shaOf.set(text, s);
  }
  return s;
}

function wrap(client: Client, url: string): RedisConnection {
  let closed = false;
  const run = async <T>(args: RedisArg[], typeMapping?: object): Promise<T> => {
    try {
      return (await client.sendCommand(args, typeMapping ? { typeMapping: typeMapping as never } : undefined)) as T;
    } catch (err) {
      throw mapRedisError(err);
    }
  };
  return {
    cmd: (args) => run(args),
    bin: (args) => run(args, BINARY),
    exact: (args) => run(args, EXACT_INTEGERS),
    async script(source, keys, args, binary) {
      const all = [String(keys.length), ...keys, ...args];
      const mapping = binary ? BINARY : undefined;
      try {
        return (await client.sendCommand(
          ["EVALSHA", sha1(source), ...all],
          mapping ? { typeMapping: mapping as never } : undefined,
        )) as never;
      } catch (err) {
        if (!(err instanceof Error) || !err.message.startsWith("NOSCRIPT")) throw mapRedisError(err);
        return run(["EVAL", source, ...all], mapping);
      }
    },
    async duplicate() {
      return connectRedis(url);
    },
    async subscribe(channel, onMessage) {
      try {
        await client.subscribe(channel, (m, ch) => onMessage(String(m), String(ch)));
      } catch (err) {
        throw mapRedisError(err);
      }
    },
    async close(force = false) {
      if (closed) return;
      closed = true;
      if (force) return void client.destroy();
      try {
        await client.close();
      } catch {
        client.destroy();
      }
    },
  };
}

/**
 * Connects to Redis at `url` ("redis://host:port/db"). The client reconnects by itself with
 * backoff; commands issued while disconnected fail fast with `BackendUnavailableError`.
 * @throws BackendUnavailableError when the first connection fails.
 */
export async function connectRedis(url: string): Promise<RedisConnection> {
  let ready = false;
  const client = createClient({
    url,
    disableOfflineQueue: true,
    socket: {
      // Before the first connection: give up after 3 tries so start-up fails clearly; afterwards
      // keep reconnecting with backoff capped at 500 ms (a refused connect costs nothing, and at a
      // 2 s cap SWM stayed unavailable up to 1.6 s after Redis was back, measured in
      // tests/services/swm/redis-restart-load.test.ts).
      reconnectStrategy: (retries: number, cause: Error) =>
        ready ? Math.min(50 * 2 ** retries, 500) : retries >= 3 ? cause : 100,
      connectTimeout: 5000,
    },
  }) as unknown as Client;
  client.on("error", () => {}); // reconnects are handled by the client; commands report failures
  client.on("ready", () => {
    ready = true;
  });
  try {
    await client.connect();
  } catch (err) {
    client.destroy();
    throw new BackendUnavailableError(`cannot connect to Redis at ${redactUrl(url)}`, { cause: err });
  }
  return wrap(client, url);
}

/** The URL without its password (for messages and logs). */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, "//$1:***@");
}
