/**
 * Server timestamps for KEMs: microsecond-precision ISO 8601 strings
 * ("YYYY-MM-DDTHH:MM:SS.ffffffZ"; docs/decisions/0002-microsecond-timestamps.md) and their
 * conversion to protobuf `Timestamp`.
 * @module
 */

import { create } from "@bufbuild/protobuf";
import { type Timestamp, TimestampSchema, timestampFromMs } from "@bufbuild/protobuf/wkt";

let lastMicros = 0;

/**
 * Current time in microseconds since the Unix epoch, strictly increasing within this process
 * (two calls never return the same value), so `updated_at` orders writes made in one process.
 * @returns microseconds since epoch (a safe integer until year 2255).
 */
export function nowMicros(): number {
  const now = Math.floor((performance.timeOrigin + performance.now()) * 1000);
  lastMicros = now > lastMicros ? now : lastMicros + 1;
  return lastMicros;
}

/**
 * Formats microseconds since epoch as fixed-width ISO 8601 UTC with 6 fraction digits
 * ("2026-11-24T13:00:00.123456Z"); fixed width keeps lexicographic order equal to time order.
 * @param micros - microseconds since epoch (year 0000–9999).
 */
export function microsToIso(micros: number): string {
  const ms = Math.floor(micros / 1000);
  const iso = new Date(ms).toISOString(); // ...ss.mmmZ
  const extra = String(micros - ms * 1000).padStart(3, "0");
  return `${iso.slice(0, 23)}${extra}Z`;
}

/**
 * Parses an ISO 8601 string written by {@link microsToIso} (or any `Date`-parsable ISO string).
 * @param iso - the timestamp text.
 * @returns microseconds since epoch.
 */
export function isoToMicros(iso: string): number {
  const m = /^(.*\.\d{3})(\d{3})Z$/.exec(iso);
  if (m) return Date.parse(`${m[1]}Z`) * 1000 + Number(m[2]);
  return Date.parse(iso) * 1000;
}

/** Converts microseconds since epoch to a protobuf `Timestamp`. */
export function microsToTimestamp(micros: number): Timestamp {
  const seconds = Math.floor(micros / 1_000_000);
  const nanos = (micros - seconds * 1_000_000) * 1000;
  return create(TimestampSchema, { seconds: BigInt(seconds), nanos });
}

/** Converts a protobuf `Timestamp` to microseconds since epoch (sub-microsecond part truncated). */
export function timestampToMicros(ts: Timestamp): number {
  return Number(ts.seconds) * 1_000_000 + Math.floor(ts.nanos / 1000);
}

export { timestampFromMs };
