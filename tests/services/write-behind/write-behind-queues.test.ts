/**
 * The write-behind queues' batching: SQLite enqueues issued together share one transaction yet
 * fail alone, and a queue closed with enqueues pending commits them; a Redis queue hands its own
 * unacknowledged entries back on the next claim (not only after the recovery interval), and a
 * claim after an ack returns only new entries. On both, a record that cannot be read is moved to
 * a dead-letter table/stream (bytes kept) instead of blocking the queue, and a record of a newer
 * format is left for a newer process. A SQLite queue answers its own claims from the records it
 * was given (up to its in-memory limit) and decodes the stored bytes for the rest and for rows of
 * another process sharing the file. A Redis queue whose Redis restarted empty creates its consumer
 * group again and drains what was queued since.
 */

import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import type { KemRecord } from "../../../services/common/kem-record.ts";
import { connectRedis } from "../../../services/swm/redis/connection.ts";
import { createRedisWorkingSet } from "../../../services/swm/working-set/redis.ts";
import { encodeRecord } from "../../../services/write-behind/codec.ts";
import { createRedisPersistQueue } from "../../../services/write-behind/redis-queue.ts";
import { createSqlitePersistQueue, LOCAL_RECORDS_MAX } from "../../../services/write-behind/sqlite-queue.ts";
import { redisPerFile } from "../../helpers/redis-per-file.ts";
import { startRedis } from "../../helpers/redis-server.ts";
import { tempDir } from "../../helpers/temp-dir.ts";

const redisHolder = redisPerFile();

const rec = (id: string, metadata: KemRecord["metadata"] = {}): KemRecord => ({
  id,
  contentType: "text/plain",
  content: new TextEncoder().encode(id),
  metadata,
  embedding: Float32Array.of(0.6, 0.8),
  createdAtUs: 1,
  updatedAtUs: 2,
});

describe("SQLite queue: group commit", () => {
  test("concurrent enqueues all land, in call order, in one transaction; a record that cannot be encoded fails only its own call", async () => {
    const path = join(tempDir(), "q.sqlite");
    const q = createSqlitePersistQueue({ path });
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic; // JSON.stringify throws on it
    const calls = Array.from({ length: 40 }, (_, i) =>
      i === 17 ? q.enqueue([rec("bad", cyclic as never)]) : q.enqueue([rec(`g-${i}`)]),
    );
    const settled = await Promise.allSettled(calls);
    expect(settled.filter((s) => s.status === "rejected").length).toBe(1);
    expect(settled[17]!.status).toBe("rejected");
    const db = new Database(path, { readonly: true });
    // The group's one transaction stamps every row with one enqueue time; sequence numbers are consecutive.
    const rows = db
      .query<{ seq: number; t: number }, []>("SELECT seq, enqueued_at_ms AS t FROM swm_persist_queue ORDER BY seq")
      .all();
    db.close();
    expect(rows.length).toBe(39);
    expect(new Set(rows.map((r) => r.t)).size).toBe(1);
    expect(rows.at(-1)!.seq - rows[0]!.seq).toBe(38);
    const got = await q.claim(100);
    expect(got.map((g) => g.record.id)).toEqual(
      Array.from({ length: 40 }, (_, i) => `g-${i}`).filter((id) => id !== "g-17"),
    );
    await q.close();
  });

  test("close() commits enqueues still waiting for their group's commit", async () => {
    const path = join(tempDir(), "q.sqlite");
    const q = createSqlitePersistQueue({ path });
    const pending = [q.enqueue([rec("c-1")]), q.enqueue([rec("c-2")])];
    await q.close();
    await Promise.all(pending);
    const again = createSqlitePersistQueue({ path });
    expect((await again.claim(10)).map((g) => g.record.id)).toEqual(["c-1", "c-2"]);
    expect((await again.stats()).depth).toBe(2);
    await again.close();
  });
});

describe("SQLite queue: own records kept in memory", () => {
  test("own claims return the enqueued records; past LOCAL_RECORDS_MAX and for another process's rows the stored bytes are decoded", async () => {
    const path = join(tempDir(), "q.sqlite");
    const q = createSqlitePersistQueue({ path });
    const other = createSqlitePersistQueue({ path }); // a second process on the same data folder
    const mine = Array.from({ length: LOCAL_RECORDS_MAX + 3 }, (_, i) => rec(`m-${i}`, { i }));
    await q.enqueue(mine);
    await other.enqueue([rec("o-1", { from: "other" })]);
    const claimed = [];
    for (let batch = await q.claim(1000); batch.length > 0; batch = await q.claim(1000)) {
      claimed.push(...batch);
      await q.ack(batch.map((b) => b.handle));
    }
    expect(claimed.length).toBe(mine.length + 1);
    // The first LOCAL_RECORDS_MAX are the very objects given; the rest are decoded copies, equal in every field.
    for (const [i, c] of claimed.slice(0, LOCAL_RECORDS_MAX).entries()) expect(c.record).toBe(mine[i]!);
    for (const [i, c] of claimed.slice(LOCAL_RECORDS_MAX, mine.length).entries()) {
      expect(c.record).not.toBe(mine[LOCAL_RECORDS_MAX + i]!);
      expect(c.record).toEqual(mine[LOCAL_RECORDS_MAX + i]!);
    }
    expect(claimed.at(-1)!.record).toEqual(rec("o-1", { from: "other" }));
    expect((await q.stats()).depth).toBe(0);
    // Memory is free again: the next own enqueue is answered from memory.
    const next = rec("m-next");
    await q.enqueue([next]);
    expect((await q.claim(10))[0]!.record).toBe(next);
    await q.close();
    await other.close();
  });
});

describe("Redis queue: claims", () => {
  test("own unacknowledged entries come back on the next claim; after an ack a claim returns only new entries", async () => {
    const conn = await connectRedis(redisHolder.server.url);
    const q = await createRedisPersistQueue({ redis: conn, prefix: "claims:", consumer: "c1", claimIdleMs: 60_000 });
    await q.enqueue([rec("r-1"), rec("r-2"), rec("r-3")]);
    const first = await q.claim(2);
    expect(first.map((g) => g.record.id)).toEqual(["r-1", "r-2"]);
    // The send failed (no ack): the same entries first, then the rest, well before the recovery interval.
    const again = await q.claim(10);
    expect(again.map((g) => g.record.id)).toEqual(["r-1", "r-2", "r-3"]);
    expect(again.map((g) => g.idempotencyKey).slice(0, 2)).toEqual(first.map((g) => g.idempotencyKey));
    await q.ack(again.map((g) => g.handle));
    await q.enqueue([rec("r-4")]);
    expect((await q.claim(10)).map((g) => g.record.id)).toEqual(["r-4"]);
    expect((await q.stats()).depth).toBe(1);
    await conn.close();
  });

  test("Redis restarted empty: the next claim creates the consumer group again and returns what was queued since", async () => {
    const own = await startRedis();
    const conn = await connectRedis(own.url);
    try {
      const q = await createRedisPersistQueue({ redis: conn, prefix: "restart:", consumer: "c1", claimIdleMs: 60_000 });
      await q.enqueue([rec("before")]);
      await q.ack((await q.claim(10)).map((g) => g.handle));
      await own.stop();
      await own.restart(); // no persistence: the stream and its group are gone
      const deadline = Date.now() + 10_000;
      for (;;) {
        try {
          await q.enqueue([rec("after-1"), rec("after-2")]); // XADD creates the stream, not the group
          break;
        } catch (err) {
          if (Date.now() > deadline) throw err; // still reconnecting
          await Bun.sleep(50);
        }
      }
      const got = await q.claim(10);
      expect(got.map((g) => g.record.id)).toEqual(["after-1", "after-2"]);
      await q.ack(got.map((g) => g.handle));
      expect((await q.stats()).depth).toBe(0);
      expect(await q.claim(10)).toEqual([]);
    } finally {
      await conn.close();
      await own.stop();
    }
  });

  test("own entries are answered with the enqueued records; another process's entries are decoded", async () => {
    const conn = await connectRedis(redisHolder.server.url);
    const q = await createRedisPersistQueue({ redis: conn, prefix: "local:", consumer: "c1", claimIdleMs: 60_000 });
    const other = await createRedisPersistQueue({ redis: conn, prefix: "local:", consumer: "c2", claimIdleMs: 60_000 });
    const mine = [rec("l-1", { a: 1 }), rec("l-2", { b: [true, null] })];
    await q.enqueue(mine);
    await other.enqueue([rec("l-3", { c: "x" })]);
    const got = await q.claim(10);
    expect(got.map((g) => g.record.id)).toEqual(["l-1", "l-2", "l-3"]);
    expect(got[0]!.record).toBe(mine[0]!);
    expect(got[1]!.record).toBe(mine[1]!);
    expect(got[2]!.record).toEqual(rec("l-3", { c: "x" })); // decoded from the entry's bytes
    await q.ack(got.map((g) => g.handle));
    expect((await q.stats()).depth).toBe(0);
    await conn.close();
  });
});

describe("Redis queue: KEMs queued by the working set's PUT script", () => {
  test("the entry holds exactly the codec's bytes of the KEM as cached; the owning queue answers that record, another consumer decodes it", async () => {
    const conn = await connectRedis(redisHolder.server.url);
    const q = await createRedisPersistQueue({ redis: conn, prefix: "put:", consumer: "c1", claimIdleMs: 60_000 });
    const ws = await createRedisWorkingSet({ redis: conn, prefix: "put:", indexedKeys: ["topic"], queue: q });
    const items = [
      { ...rec("p-1", { topic: "t", deep: { n: 1.5, s: "é✓" } }), content: new Uint8Array([0, 255, 13, 10]) },
      { ...rec("p-ü"), embedding: null },
    ];
    const put = await ws.put(items, { agentId: "a", persist: true });
    expect(put.map((p) => p.queued)).toEqual([true, true]);
    expect((await ws.put([rec("p-3")], { agentId: "a" }))[0]!.queued).toBe(false); // no persist: not queued
    const entries = await conn.bin<[Buffer, Buffer[]][]>(["XRANGE", q.streamKey, "-", "+"]);
    expect(entries.length).toBe(2);
    entries.forEach(([, fields], i) => {
      expect(fields[0]!.toString()).toBe("key");
      expect(fields[2]!.toString()).toBe("kem");
      expect([...fields[3]!]).toEqual([...encodeRecord(put[i]!.record)]);
    });
    const own = await q.claim(10); // answered with the records the working set returned
    expect(own.map((g) => g.record)).toEqual(put.map((p) => p.record));
    for (const [i, g] of own.entries()) expect(g.record).toBe(put[i]!.record);
    // Not acknowledged: another consumer takes the entries over and decodes their bytes.
    const other = await createRedisPersistQueue({ redis: conn, prefix: "put:", consumer: "c2", claimIdleMs: 0 });
    const decoded = await other.claim(10);
    expect(decoded.map((g) => g.record)).toEqual(put.map((p) => p.record));
    expect(decoded[0]!.record).not.toBe(put[0]!.record);
    expect(decoded.map((g) => g.idempotencyKey)).toEqual(own.map((g) => g.idempotencyKey));
    expect(new Set(decoded.map((g) => g.idempotencyKey)).size).toBe(2);
    await other.ack(decoded.map((g) => g.handle));
    expect((await q.stats()).depth).toBe(0);
    await ws.close();
    await conn.close();
  });
});

describe("unreadable records", () => {
  const corrupt = () => encodeRecord(rec("corrupt")).subarray(0, 30); // truncated
  const newer = () => {
    const b = encodeRecord(rec("from-the-future"));
    b[0] = 2;
    return b;
  };

  test("SQLite: a corrupt row goes to swm_persist_dead with its bytes; a newer-format row stays; the rest drains", async () => {
    const path = join(tempDir(), "q.sqlite");
    const warnings: string[] = [];
    const q = createSqlitePersistQueue({ path, log: { warn: (_o, msg) => void warnings.push(msg) } });
    await q.enqueue([rec("a")]);
    const db = new Database(path);
    const put = db.query("INSERT INTO swm_persist_queue (idempotency_key, kem, enqueued_at_ms) VALUES (?, ?, ?)");
    put.run("k-corrupt", corrupt(), Date.now());
    put.run("k-newer", newer(), Date.now());
    await q.enqueue([rec("b")]);
    const got = await q.claim(10);
    expect(got.map((g) => g.record.id)).toEqual(["a", "b"]);
    await q.ack(got.map((g) => g.handle));
    const dead = db
      .query<{ idempotency_key: string; kem: Uint8Array; error: string }, []>(
        "SELECT idempotency_key, kem, error FROM swm_persist_dead",
      )
      .all();
    expect(dead.map((d) => d.idempotency_key)).toEqual(["k-corrupt"]);
    expect(Array.from(dead[0]!.kem)).toEqual(Array.from(corrupt()));
    expect(dead[0]!.error).toMatch(/truncated/);
    const left = db.query<{ idempotency_key: string }, []>("SELECT idempotency_key FROM swm_persist_queue").all();
    expect(left.map((r) => r.idempotency_key)).toEqual(["k-newer"]);
    expect(
      db.query("SELECT COUNT(*) AS n FROM swm_persist_leases WHERE seq IN (SELECT seq FROM swm_persist_queue)").get(),
    ).toEqual({ n: 0 }); // free for a newer process
    db.close();
    expect(warnings.length).toBe(2);
    await q.close();
  });

  test("Redis: a corrupt entry goes to swm_persist_dead with its bytes; a newer-format entry stays pending; the rest drains", async () => {
    const conn = await connectRedis(redisHolder.server.url);
    const q = await createRedisPersistQueue({ redis: conn, prefix: "dead:", consumer: "c1" });
    await q.enqueue([rec("a")]);
    await conn.cmd(["XADD", "dead:swm_persist", "*", "key", "k-corrupt", "kem", Buffer.from(corrupt())]);
    await conn.cmd(["XADD", "dead:swm_persist", "*", "key", "k-newer", "kem", Buffer.from(newer())]);
    await q.enqueue([rec("b")]);
    const got = await q.claim(10);
    expect(got.map((g) => g.record.id)).toEqual(["a", "b"]);
    await q.ack(got.map((g) => g.handle));
    const dead = await conn.bin<[Buffer, Buffer[]][]>(["XRANGE", "dead:swm_persist", "-", "+"]);
    expect(dead.length).toBe(1); // only the newer-format entry is left in the queue
    const [entry] = await conn.bin<[Buffer, Buffer[]][]>(["XRANGE", "dead:swm_persist_dead", "-", "+"]);
    const f = new Map<string, Buffer>();
    for (let i = 0; i < entry![1].length; i += 2) f.set(entry![1][i]!.toString(), entry![1][i + 1]!);
    expect(f.get("key")!.toString()).toBe("k-corrupt");
    expect(Array.from(f.get("kem")!)).toEqual(Array.from(corrupt()));
    expect(f.get("error")!.toString()).toMatch(/truncated/);
    expect((await q.stats()).depth).toBe(1);
    await conn.close();
  });
});
