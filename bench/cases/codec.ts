/**
 * Codec micro cases (mitata): encoding + decoding of what DCSM serialises itself, candidates
 * against each other, so the formats in the code are chosen by measurement.
 *
 * - `codec.record/*`: one queued write-behind record (a KEM with 222 B of content, 3 metadata
 *   keys, a 384-d float32 embedding, µs timestamps) — SWM's SQLite and Redis queues and KPS's
 *   outbox. Baseline `codec.record/protobuf`: the wire `KEM` protobuf the queues used before
 *   (embedding through `number[]`). Candidates: `hand-laid` (the format in
 *   `services/write-behind/codec.ts`), `msgpackr-array` (`Packr({ moreTypes: true })`, the
 *   record as a 7-element array), `msgpackr-records` (the record object with msgpackr's record
 *   extension; a fresh structure table per message so any process can read it).
 * - `codec.metadata/*`: the metadata object alone, as the Redis working-set hash and the Redis event
 *   log carry it (the Lua scripts read and write it as JSON): `JSON.stringify`+`parse` (baseline)
 *   against msgpackr pack+unpack.
 *
 * Each result's `extra.bytes` is the encoded size.
 * @module
 */
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { do_not_optimize } from "mitata";
import { Packr } from "msgpackr";
import { KEMSchema } from "../../sdk/gen/dcsm/v1/kem_pb.ts";
import { recordToKem } from "../../services/common/kem-mapping.ts";
import type { KemRecord } from "../../services/common/kem-record.ts";
import { nowMicros } from "../../services/common/time.ts";
import { decodeRecord, encodeRecord, kemToRecord } from "../../services/write-behind/codec.ts";
import { clusteredVectors } from "../lib/clustered-vectors.ts";
import { compareMicro } from "../lib/measure.ts";
import type { BenchResult } from "../lib/stats.ts";

/** A queued record as the bench's write-behind case publishes it. */
export function sampleRecord(): KemRecord {
  const now = nowMicros();
  return {
    id: "0192f3a4-5b6c-7d8e-9f01-23456789abcd",
    contentType: "text/plain",
    content: new TextEncoder().encode(
      "A note published to SWM and persisted to GLM by the write-behind worker. ".repeat(3),
    ),
    metadata: { topic: "t3", n: 1234, namespace: "team-a" },
    embedding: clusteredVectors(1, 384, { seed: 7 }),
    createdAtUs: now,
    updatedAtUs: now + 1,
  };
}

const arrayPackr = new Packr({ moreTypes: true, useRecords: false });
const recordPackr = new Packr({ moreTypes: true, useRecords: true });

/** msgpackr, the record as an array `[id, contentType, content, metadata, embedding, created, updated]`. */
function packArray(r: KemRecord): Uint8Array {
  return arrayPackr.pack([r.id, r.contentType, r.content, r.metadata, r.embedding, r.createdAtUs, r.updatedAtUs]);
}
function unpackArray(b: Uint8Array): KemRecord {
  const [id, contentType, content, metadata, embedding, createdAtUs, updatedAtUs] = arrayPackr.unpack(b);
  return { id, contentType, content, metadata, embedding, createdAtUs, updatedAtUs };
}

/** The record's codec candidates (encode, decode), by result name. */
export const RECORD_CODECS: Record<
  string,
  { encode: (r: KemRecord) => Uint8Array; decode: (b: Uint8Array) => KemRecord }
> = {
  protobuf: {
    encode: (r) => toBinary(KEMSchema, recordToKem(r)),
    decode: (b) => kemToRecord(fromBinary(KEMSchema, b)),
  },
  "hand-laid": { encode: encodeRecord, decode: decodeRecord },
  "msgpackr-array": { encode: packArray, decode: unpackArray },
  "msgpackr-records": { encode: (r) => recordPackr.pack(r), decode: (b) => recordPackr.unpack(b) as KemRecord },
};

/** `codec.record/*`: encode + decode of one queued record. */
export async function benchRecordCodecs(): Promise<BenchResult[]> {
  const rec = sampleRecord();
  const [base, ...rest] = Object.entries(RECORD_CODECS).map(([name, c]) => ({
    name: `codec.record/${name}`,
    fn: () => do_not_optimize(c.decode(c.encode(rec))),
    bytes: c.encode(rec).byteLength,
  }));
  const results = await compareMicro(base!, rest);
  const sizes = new Map([base!, ...rest].map((c) => [c.name, c.bytes]));
  for (const r of results) r.extra = { ...r.extra, bytes: sizes.get(r.case)! };
  return results;
}

/** `codec.metadata/*`: encode + decode of a metadata object. */
export async function benchMetadataCodecs(): Promise<BenchResult[]> {
  const md = { topic: "t3", n: 1234, namespace: "team-a", source: "docs/guide.md", tags: ["a", "b"], score: 0.75 };
  const json = {
    name: "codec.metadata/json",
    fn: () => do_not_optimize(JSON.parse(JSON.stringify(md))),
    bytes: new TextEncoder().encode(JSON.stringify(md)).byteLength,
  };
  const mp = {
    name: "codec.metadata/msgpackr",
    fn: () => do_not_optimize(arrayPackr.unpack(arrayPackr.pack(md))),
    bytes: arrayPackr.pack(md).byteLength,
  };
  const results = await compareMicro(json, [mp]);
  results[0]!.extra = { ...results[0]!.extra, bytes: json.bytes };
  results[1]!.extra = { ...results[1]!.extra, bytes: mp.bytes };
  return results;
}
