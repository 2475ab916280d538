/**
 * The queued-record codec: every field round-trips exactly (content bytes, nested metadata,
 * float32 bit patterns incl. NaN payloads, ±0, subnormals, µs timestamps), records queued by
 * earlier versions (protobuf `KEM`, no version byte) still decode — through the codec and through
 * the real SQLite and Redis queues — and malformed bytes fail with a clear error.
 */

import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { toBinary } from "@bufbuild/protobuf";
import { KEMSchema } from "../../../sdk/gen/dcsm/v1/kem_pb.ts";
import { recordToKem } from "../../../services/common/kem-mapping.ts";
import type { KemRecord } from "../../../services/common/kem-record.ts";
import { connectRedis } from "../../../services/swm/redis/connection.ts";
import { decodeRecord, encodeRecord, RecordFormatError } from "../../../services/write-behind/codec.ts";
import { createRedisPersistQueue } from "../../../services/write-behind/redis-queue.ts";
import { createSqlitePersistQueue } from "../../../services/write-behind/sqlite-queue.ts";
import { redisPerFile } from "../../helpers/redis-per-file.ts";
import { tempDir } from "../../helpers/temp-dir.ts";

/** Float32 bit patterns that a lossy path would change: NaNs with payloads, ±0, subnormals, extremes. */
const BITS = [
  0x7fc00000, 0x7fc00001, 0xffc12345, 0x7f800001, 0x00000000, 0x80000000, 0x00000001, 0x807fffff, 0x7f7fffff,
  0xff800000, 0x7f800000, 0x3f800000, 0x33d6bf95,
];

function tricky(): KemRecord {
  const embedding = new Float32Array(384);
  const bits = new Uint32Array(embedding.buffer);
  for (let i = 0; i < bits.length; i++) bits[i] = BITS[i % BITS.length]! ^ (i > 13 ? i << 8 : 0);
  return {
    id: "kem-ü-✓-0192f3a4",
    contentType: "application/octet-stream; charset=☃",
    content: Uint8Array.from({ length: 515 }, (_, i) => (i * 37) % 256), // every byte value, zeros included
    metadata: {
      topic: "t1",
      n: -12.5,
      big: 2 ** 53 - 1,
      ok: true,
      none: null,
      nested: { a: [1, "x", { b: false }], emoji: "🙂", empty: {} },
      list: [],
    },
    embedding,
    createdAtUs: 1_764_150_000_123_457, // odd µs: not representable in ms
    updatedAtUs: 8_000_000_000_000_001,
  };
}

function expectSame(got: KemRecord, want: KemRecord): void {
  expect(got.id).toBe(want.id);
  expect(got.contentType).toBe(want.contentType);
  expect(Array.from(got.content)).toEqual(Array.from(want.content));
  expect(got.metadata).toEqual(want.metadata);
  expect(got.createdAtUs).toBe(want.createdAtUs);
  expect(got.updatedAtUs).toBe(want.updatedAtUs);
  if (want.embedding === null) expect(got.embedding).toBeNull();
  else {
    expect(got.embedding).toBeInstanceOf(Float32Array);
    // Bit for bit: `toEqual` would treat every NaN alike and 0 like -0.
    expect(
      Array.from(new Uint32Array(got.embedding!.buffer, got.embedding!.byteOffset, got.embedding!.length)),
    ).toEqual(Array.from(new Uint32Array(want.embedding.buffer, want.embedding.byteOffset, want.embedding.length)));
  }
}

/** What the queues stored before the version byte: the wire `KEM` protobuf. */
const legacyBytes = (r: KemRecord) => toBinary(KEMSchema, recordToKem(r));
const plain = (): KemRecord => ({
  id: "legacy-1",
  contentType: "text/plain",
  content: new TextEncoder().encode("queued by an earlier version"),
  metadata: { topic: "old", n: 3, nested: { k: ["v"] } },
  embedding: Float32Array.from([0.5, -0.25, 0, 1e-40, -3.5]),
  createdAtUs: 1_764_000_000_000_001,
  updatedAtUs: 1_764_000_000_000_999,
});

describe("queued-record codec", () => {
  test("every field round-trips exactly, bit for bit in the embedding", () => {
    const rec = tricky();
    const bytes = encodeRecord(rec);
    expect(bytes[0]).toBe(1);
    expectSame(decodeRecord(bytes), rec);
  });

  test("no embedding, empty strings and metadata, an embedding that is a view into a larger buffer", () => {
    const none: KemRecord = {
      id: "x",
      contentType: "",
      content: new Uint8Array(),
      metadata: {},
      embedding: null,
      createdAtUs: 0,
      updatedAtUs: 1,
    };
    expectSame(decodeRecord(encodeRecord(none)), none);
    const big = new Float32Array(1000).map((_, i) => i / 7);
    const view: KemRecord = { ...tricky(), embedding: big.subarray(3, 387) };
    const out = decodeRecord(encodeRecord(view));
    expectSame(out, view);
    expect(out.embedding!.buffer.byteLength).toBe(384 * 4); // owns its memory, no view into the row
  });

  test("decoded records own their memory: changing the bytes afterwards changes nothing", () => {
    const rec = tricky();
    const bytes = encodeRecord(rec);
    const out = decodeRecord(bytes);
    bytes.fill(0);
    expectSame(out, rec);
  });

  test("records queued before the version byte (protobuf KEM) still decode", () => {
    const rec = plain();
    const bytes = legacyBytes(rec);
    expect(bytes[0]).toBe(0x0a); // tag of field 1 (id), never a version byte
    expectSame(decodeRecord(bytes), rec);
  });

  test("malformed bytes fail with RecordFormatError, not a crash or a wrong record", () => {
    const bytes = encodeRecord(tricky());
    expect(() => decodeRecord(new Uint8Array())).toThrow(RecordFormatError);
    for (const cut of [1, 17, 25, 60, bytes.byteLength - 1])
      expect(() => decodeRecord(bytes.subarray(0, cut))).toThrow(RecordFormatError);
    const future = bytes.slice();
    future[0] = 2;
    expect(() => decodeRecord(future)).toThrow(/format version 2/);
    const badUtf8 = encodeRecord({ ...plain(), id: "ab" });
    badUtf8[18 + 4] = 0xff;
    expect(() => decodeRecord(badUtf8)).toThrow(RecordFormatError);
  });
});

describe("queues read data left by earlier versions", () => {
  const redis = redisPerFile();

  test("SQLite queue: a protobuf row queued before the upgrade and a new row both come out", async () => {
    const path = join(tempDir(), "queue.sqlite");
    const q = createSqlitePersistQueue({ path });
    const db = new Database(path);
    db.query("INSERT INTO swm_persist_queue (idempotency_key, kem, enqueued_at_ms) VALUES (?, ?, ?)").run(
      "old-key",
      legacyBytes(plain()),
      Date.now(),
    );
    db.close();
    await q.enqueue([tricky()]);
    const got = await q.claim(10);
    expect(got.map((g) => g.idempotencyKey)[0]).toBe("old-key");
    expectSame(got[0]!.record, plain());
    expectSame(got[1]!.record, tricky());
    await q.close();
  });

  test("Redis queue: a protobuf entry queued before the upgrade and a new entry both come out", async () => {
    const conn = await connectRedis(redis.server.url);
    const q = await createRedisPersistQueue({ redis: conn, prefix: "codec:", consumer: "c1" });
    await conn.cmd(["XADD", "codec:swm_persist", "*", "key", "old-key", "kem", Buffer.from(legacyBytes(plain()))]);
    await q.enqueue([tricky()]);
    const got = await q.claim(10);
    expect(got[0]!.idempotencyKey).toBe("old-key");
    expectSame(got[0]!.record, plain());
    expectSame(got[1]!.record, tricky());
    await conn.close();
  });
});
