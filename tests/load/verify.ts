/**
 * After-run checks of the load test: every acknowledged publish is in SWM exactly once, every
 * persisted one in GLM exactly once, and nothing unexpected is there; the server-side connection
 * count (read from `/proc/net/tcp`).
 * @module
 */
import { readFileSync } from "node:fs";
import { createClient, type Transport } from "@connectrpc/connect";
import { GlobalLongTermMemoryService } from "../../sdk/gen/dcsm/v1/glm_service_pb.ts";
import { SharedWorkingMemoryService } from "../../sdk/gen/dcsm/v1/swm_service_pb.ts";

/** What a presence check found. */
export interface PresenceReport {
  /** Acknowledged ids checked. */
  expected: number;
  /** Distinct ids found. */
  found: number;
  /** Acknowledged ids not found. */
  missing: number;
  /** Ids returned more than once (across all pages). */
  duplicated: number;
  /** Ids found that were neither acknowledged nor uncertain (a publish that errored). */
  unexpected: number;
  /** Up to 5 missing ids, for the report. */
  missingSample: string[];
}

function tally(expected: Set<string>, uncertain: Set<string>, seen: Map<string, number>): PresenceReport {
  let missing = 0;
  const missingSample: string[] = [];
  for (const id of expected) {
    if (!seen.has(id)) {
      missing++;
      if (missingSample.length < 5) missingSample.push(id);
    }
  }
  let duplicated = 0;
  let unexpected = 0;
  for (const [id, n] of seen) {
    if (n > 1) duplicated++;
    if (!expected.has(id) && !uncertain.has(id)) unexpected++;
  }
  return { expected: expected.size, found: seen.size, missing, duplicated, unexpected, missingSample };
}

const str = (value: string) => ({ kind: { case: "stringValue" as const, value } });

/**
 * Reads every KEM of each agent from SWM (QuerySWM by the indexed `agent` metadata key, all
 * pages) and compares with what the agents were told.
 * @param transport - a transport to the server.
 * @param agents - per agent: id, acknowledged ids, uncertain ids.
 */
export async function verifySwm(
  transport: Transport,
  agents: { id: string; acked: string[]; uncertain: Iterable<string> }[],
): Promise<PresenceReport> {
  const swm = createClient(SharedWorkingMemoryService, transport);
  const expected = new Set<string>();
  const uncertain = new Set<string>();
  const seen = new Map<string, number>();
  for (const a of agents) {
    for (const id of a.acked) expected.add(id);
    for (const id of a.uncertain) uncertain.add(id);
    let pageToken = "";
    do {
      const page = await swm.querySWM(
        { query: { metadataFilters: { agent: str(a.id) } }, pageSize: 1000, pageToken },
        { timeoutMs: 30_000 },
      );
      for (const k of page.kems) seen.set(k.id, (seen.get(k.id) ?? 0) + 1);
      pageToken = page.nextPageToken;
    } while (pageToken);
  }
  return tally(expected, uncertain, seen);
}

/**
 * Checks GLM twice: by ids (chunks of 1000) for each persisted acknowledged publish, and by the
 * `run` metadata (all pages) for duplicates and strays.
 * @param transport - a transport to the server.
 * @param run - the run id (`run` metadata value).
 * @param persisted - acknowledged ids published with persistence.
 * @param uncertain - ids whose publish errored.
 */
export async function verifyGlm(
  transport: Transport,
  run: string,
  persisted: string[],
  uncertain: Set<string>,
): Promise<PresenceReport & { byIdsFound: number }> {
  const glm = createClient(GlobalLongTermMemoryService, transport);
  let byIdsFound = 0;
  for (let at = 0; at < persisted.length; at += 1000) {
    const ids = persisted.slice(at, at + 1000);
    const res = await glm.retrieveKEMs({ query: { ids }, pageSize: ids.length }, { timeoutMs: 60_000 });
    byIdsFound += new Set(res.kems.map((k) => k.id).filter((id) => ids.includes(id))).size;
  }
  const seen = new Map<string, number>();
  let pageToken = "";
  do {
    const page = await glm.retrieveKEMs(
      { query: { metadataFilters: { run: str(run) } }, pageSize: 1000, pageToken },
      { timeoutMs: 60_000 },
    );
    for (const k of page.kems) seen.set(k.id, (seen.get(k.id) ?? 0) + 1);
    pageToken = page.nextPageToken;
  } while (pageToken);
  return { ...tally(new Set(persisted), uncertain, seen), byIdsFound };
}

/**
 * Established TCP connections whose local port is `port` (the server side of each client
 * connection), from `/proc/net/tcp` and `/proc/net/tcp6`; -1 where those files do not exist.
 */
export function establishedTo(port: number): number {
  let n = 0;
  let readable = false;
  for (const f of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text: string;
    try {
      text = readFileSync(f, "utf8");
      readable = true;
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 4) continue;
      const localPort = parseInt(cols[1]!.split(":").pop()!, 16);
      if (localPort === port && cols[3] === "01") n++;
    }
  }
  return readable ? n : -1;
}
