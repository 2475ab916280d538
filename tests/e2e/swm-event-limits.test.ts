/**
 * Bounds of SWM's event streams against a real `dcsm serve` process (in-process SWM backend):
 * the event history is bounded in bytes (`DCSM_SWM_EVENT_HISTORY_BYTES`), so repeated large
 * publishes do not pile up in memory; resuming from a dropped sequence gets RELOAD_REQUIRED.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { type Client, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { EventType, SharedWorkingMemoryService, type SWMMemoryEvent } from "../../sdk/gen/dcsm/v1/swm_service_pb.ts";
import { type ServeProcess, startServeProcess } from "../helpers/serve-process.ts";
import { removeTempDirs, tempDir } from "../helpers/temp-dir.ts";

const enc = new TextEncoder();
let srv: ServeProcess;
let swm: Client<typeof SharedWorkingMemoryService>;

beforeAll(async () => {
  srv = await startServeProcess(tempDir("dcsm-swm-limits-"), {
    DCSM_SWM_MAX_BYTES: "20000000",
    DCSM_SWM_EVENT_HISTORY_BYTES: String(16 * 1024 * 1024),
  });
  swm = createClient(
    SharedWorkingMemoryService,
    createConnectTransport({ baseUrl: srv.url, httpVersion: "1.1", useBinaryFormat: true }),
  );
});
afterAll(async () => {
  await srv?.stop();
  removeTempDirs();
});

function rssMiB(pid: number): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) / 1024;
}

/** The first `n` messages of an event stream (the first is the "subscribed" heartbeat or RELOAD_REQUIRED). */
async function firstEvents(
  req: Parameters<typeof swm.subscribeToSWMEvents>[0],
  n: number,
  timeoutMs = 5000,
): Promise<SWMMemoryEvent[]> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), timeoutMs);
  const out: SWMMemoryEvent[] = [];
  try {
    for await (const e of swm.subscribeToSWMEvents(req, { signal: ac.signal })) {
      out.push(e);
      if (out.length >= n) break;
    }
  } catch {
    // aborted by the timeout: return what arrived
  } finally {
    clearTimeout(timer);
    ac.abort();
  }
  return out;
}

/** Publishes `id` while a subscriber filtered on it is open (registered first); returns the event's sequence. */
async function publishAndSequence(id: string): Promise<bigint> {
  const ac = new AbortController();
  const it = swm
    .subscribeToSWMEvents({ topics: [{ filterCriteria: `kem_id=${id}` }] }, { signal: ac.signal, timeoutMs: 10_000 })
    [Symbol.asyncIterator]();
  try {
    const subscribed = await it.next();
    expect(subscribed.value?.details).toBe("subscribed");
    await swm.publishKEMToSWM({ kemToPublish: { id, content: enc.encode(id) } });
    const e = (await it.next()).value as SWMMemoryEvent;
    expect(e.kemPayload?.id).toBe(id);
    return e.sequence;
  } finally {
    ac.abort();
  }
}

describe("SWM event history byte budget", () => {
  test("300 publishes of 1 MiB to one id stay within the byte budget; resuming from a dropped sequence gets RELOAD_REQUIRED", async () => {
    const first = await publishAndSequence("marker-before");
    const before = rssMiB(srv.proc.pid);
    const big = new Uint8Array(1024 * 1024 - 64).fill(0x62);
    for (let i = 0; i < 300; i++) {
      big[0] = i & 0xff;
      await swm.publishKEMToSWM({ kemToPublish: { id: "hot-1", content: big } });
    }
    const after = rssMiB(srv.proc.pid);
    // RSS moves with garbage not yet collected, so the bound is asserted on what the history holds (/metrics).
    const metrics = await (await fetch(`${srv.url}/metrics`)).text();
    const historyBytes = Number(/^dcsm_swm_event_history_bytes (\S+)$/m.exec(metrics)?.[1]);
    console.log(
      `server RSS ${before.toFixed(0)} → ${after.toFixed(0)} MiB after 300 publishes of 1 MiB to one id; event history holds ${(historyBytes / 2 ** 20).toFixed(1)} MiB (budget 16 MiB)`,
    );
    expect(historyBytes).toBeGreaterThan(0);
    expect(historyBytes).toBeLessThanOrEqual(16 * 1024 * 1024);

    const resumedOld = await firstEvents({ resumeAfterSequence: first }, 1);
    expect(resumedOld[0]?.eventType).toBe(EventType.RELOAD_REQUIRED);
    // A recent sequence is still kept: resuming replays from there.
    const last = await publishAndSequence("marker-after");
    const resumedNew = await firstEvents({ resumeAfterSequence: last - 1n }, 2);
    expect(resumedNew[0]?.eventType).toBe(EventType.HEARTBEAT);
    expect(resumedNew[1]?.kemPayload?.id).toBe("marker-after");
  });
});
