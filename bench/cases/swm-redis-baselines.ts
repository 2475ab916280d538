/**
 * Redis baselines of the SWM benchmark (swm.ts), measured in the same run as our own Redis
 * publish and query: what the working set's PUT Lua script runs for a new KEM sent as one
 * MULTI/EXEC by node-redis, the PUT script itself by EVALSHA, a by-id query's ZMSCORE + HGETALL
 * pipelined, and `redis-benchmark` SET for the server's own ceiling.
 * @module
 */
import { createClient as createRedisClient, RESP_TYPES } from "redis";
import { PUT_SCRIPT } from "../../services/swm/working-set/redis-scripts.ts";
import type { BenchResult } from "../lib/stats.ts";
import { CONTENT, IN_FLIGHT, metaOf } from "./swm-workload.ts";

/** A node-redis client with SWM's options (binary bulk strings where the working set reads them). */
export async function rawRedis(url: string) {
  const client = createRedisClient({ url });
  await client.connect();
  return client;
}

/** A node-redis client as {@link rawRedis} opens it. */
export type RawRedis = Awaited<ReturnType<typeof rawRedis>>;

/** The commands the PUT script runs for a new KEM with one indexed key, as one MULTI/EXEC. */
export function rawPublish(client: RawRedis, P: string) {
  const content = Buffer.from(CONTENT);
  return async (id: string, i: number) => {
    const us = Date.now() * 1000;
    const md = metaOf(i);
    const kem = `${P}swm_kem:${id}`;
    const ref = `${P}swm_ref:${id}`;
    const iso = new Date(us / 1000).toISOString();
    const json = JSON.stringify(md);
    await client
      .multi()
      .addCommand(["TIME"])
      .addCommand(["HMGET", kem, "created_at_us", "updated_at_us"])
      .addCommand(["HGETALL", ref])
      .addCommand(["DEL", ref])
      .addCommand(["SADD", `${P}swm_idx:meta:topic:${md.topic}`, id])
      .addCommand(["HSET", ref, "topic", md.topic])
      .addCommand(["DEL", kem])
      .addCommand([
        "HSET",
        kem,
        "id",
        id,
        "content_type",
        "text/plain",
        "content",
        content,
        "metadata",
        json,
        "created_at",
        iso,
        "updated_at",
        iso,
        "created_at_ts",
        String(Math.floor(us / 1e6)),
        "updated_at_ts",
        String(Math.floor(us / 1e6)),
        "created_at_us",
        String(us),
        "updated_at_us",
        String(us),
      ])
      .addCommand(["PEXPIRE", kem, "2592000000"])
      .addCommand(["ZADD", `${P}swm_idx:date:created_at`, String(us), id])
      .addCommand(["ZADD", `${P}swm_idx:date:updated_at`, String(us), id])
      .addCommand(["SETNX", `${P}swm_events:seq`, String(us)])
      .addCommand(["INCR", `${P}swm_events:seq`])
      .addCommand([
        "XADD",
        `${P}swm_events`,
        "MAXLEN",
        "~",
        "10000",
        "*",
        "k",
        "published",
        "id",
        id,
        "a",
        "bench",
        "t",
        String(Math.floor(us / 1000)),
        "d",
        "",
        "m",
        json,
        "u",
        String(us),
      ])
      .exec();
  };
}

/** Runs the PUT script by EVALSHA for a new KEM, keys under `evalbench:` (load it first with {@link PUT_SCRIPT}). */
export function evalPublish(raw: RawRedis) {
  return async (id: string, i: number) => {
    const md = metaOf(i);
    await raw.sendCommand([
      "EVALSHA",
      sha1(PUT_SCRIPT),
      "0",
      "evalbench:",
      "put",
      id,
      "text/plain",
      Buffer.from(CONTENT),
      JSON.stringify(md),
      "",
      "2592000000",
      "bench",
      "",
      "10000",
      "",
      "",
      "",
      "",
      "",
      "topic",
      md.topic,
    ]);
  };
}

/** A by-id query's Redis commands (ZMSCORE + HGETALL, pipelined) for the `i`-th id of `ids` (cycled), keys under `prefix`. */
export function rawQuery(raw: RawRedis, prefix: string, ids: string[]) {
  const bin = { typeMapping: { [RESP_TYPES.BLOB_STRING]: Buffer } } as never;
  return async (i: number) => {
    const id = ids[(i * 7919) % ids.length]!;
    const [, h] = await Promise.all([
      raw.sendCommand(["ZMSCORE", `${prefix}swm_idx:date:updated_at`, id]),
      raw.sendCommand(["HGETALL", `${prefix}swm_kem:${id}`], bin),
    ]);
    if (!h) throw new Error("raw query missed");
  };
}

/** Runs `redis-benchmark` SET against the run's Redis; none when it is not installed. */
export async function redisBenchmark(port: number): Promise<BenchResult[]> {
  if (!Bun.which("redis-benchmark")) return [];
  const out: BenchResult[] = [];
  for (const [name, extra] of [
    ["redis.benchmark/set-c64", []],
    ["redis.benchmark/set-c64-P16", ["-P", "16"]],
  ] as const) {
    const p = Bun.spawn(
      [
        "redis-benchmark",
        "-p",
        String(port),
        "-c",
        String(IN_FLIGHT),
        "-n",
        "100000",
        "-t",
        "set",
        "-d",
        "200",
        "-r",
        "100000",
        "--csv",
        ...extra,
      ],
      { stdout: "pipe", stderr: "ignore" },
    );
    const text = await new Response(p.stdout).text();
    await p.exited;
    const line = text.split("\n").find((l) => l.startsWith('"SET"'));
    const cols = line?.split(",").map((c) => Number(c.replaceAll('"', "")));
    if (cols && Number.isFinite(cols[1]))
      out.push({ case: name, n: 100000, opsPerSec: cols[1]!, p50Ms: cols[5], p99Ms: cols[7] });
  }
  return out;
}

/** Hex SHA-1 of `text`: the name EVALSHA calls a loaded script by. */
function sha1(text: string): string {
  return new Bun.CryptoHasher("sha1").update(text).digest("hex");
}
