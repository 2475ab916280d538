/**
 * `handleSwmEvents` against a real server over real sockets, through a TCP proxy that cuts the
 * connection: the LPA follows publishes, updates and evictions; after a drop the subscription
 * resumes from its last sequence without loss; when the missed events are gone from the server's
 * history (RELOAD_REQUIRED) it reloads the LPA.
 */
import { afterAll, expect, test } from "bun:test";
import type { DcsmServer } from "../../runtime/server.ts";
import { createAgentSDK, EventType, kemText, type SWMMemoryEvent } from "../../sdk/index.ts";
import { serverPerFile } from "../helpers/server-per-file.ts";
import { startTcpProxy, type TcpProxy } from "../helpers/tcp-proxy.ts";
import { waitFor } from "../helpers/wait-for.ts";

let server: DcsmServer;
let proxy: TcpProxy;
const HISTORY = 30;
const MAX_ENTRIES = 40;

afterAll(() => proxy?.close()); // registered first: the proxy closes before the server
serverPerFile(
  async (s) => {
    server = s;
    proxy = await startTcpProxy(Number(new URL(s.httpUrl).port));
  },
  { swmEventHistory: HISTORY, swmMaxEntries: MAX_ENTRIES, swmHeartbeatMs: 200 },
);

const writer = (id: string) => createAgentSDK({ baseUrl: server.httpUrl, agentId: id });
const reader = (id: string) =>
  createAgentSDK({
    baseUrl: proxy.url,
    agentId: id,
    lpa: { maxEntries: 1000, indexedKeys: ["room"] },
    retry: { maxRetries: 8, initialDelayMs: 20 },
  });

test("LPA follows publish, update and eviction events; survives drops by resuming, and reloads after RELOAD_REQUIRED", async () => {
  const a = writer("A");
  const b = reader("B");
  const seen: SWMMemoryEvent[] = [];
  const errors: string[] = [];
  const sub = b.handleSwmEvents({ metadata: { room: "r1" } }, (ev) => void seen.push(ev), {
    reconnectInitialDelayMs: 20,
    reconnectMaxDelayMs: 100,
    idleTimeoutMs: 2000,
    onError: (e) => errors.push(e.message),
  });
  await sub.ready; // the "subscribed" HEARTBEAT: the server has registered the subscription

  // Publish and update: B's LPA holds the latest version of each.
  const [k1, k2] = (
    await a.publishKemsToSwmBatch([
      { content: "one", metadata: { room: "r1" } },
      { content: "two", metadata: { room: "r1" } },
    ])
  ).kems;
  await a.publishKemsToSwmBatch([{ id: k1!.id, content: "one v2", metadata: { room: "r1" } }]);
  await a.publishKemsToSwmBatch([{ content: "other room", metadata: { room: "r2" } }]); // filtered out
  await waitFor(
    () => b.lpa.peek(k1!.id) !== undefined && kemText(b.lpa.peek(k1!.id)!) === "one v2" && b.lpa.has(k2!.id),
  );
  expect(
    b
      .queryLocalMemory({ metadataFilters: { room: "r1" } })
      .map(kemText)
      .sort(),
  ).toEqual(["one v2", "two"]);
  expect(b.queryLocalMemory({ metadataFilters: { room: "r2" } })).toEqual([]);
  expect(seen.map((e) => e.eventType)).toEqual([
    EventType.KEM_PUBLISHED,
    EventType.KEM_PUBLISHED,
    EventType.KEM_UPDATED,
  ]);

  // Network drop while A keeps writing: B reconnects with its last sequence and misses nothing.
  const before = sub.connections;
  proxy.drop(true);
  const during = (
    await a.publishKemsToSwmBatch(
      Array.from({ length: 5 }, (_, i) => ({ content: `during ${i}`, metadata: { room: "r1" } })),
    )
  ).kems;
  proxy.up();
  await waitFor(() => during.every((k) => b.lpa.has(k.id)));
  expect(sub.connections).toBeGreaterThan(before);
  expect(sub.reloads).toBe(0);
  const seqs = seen.map((e) => Number(e.sequence));
  expect(new Set(seqs).size).toBe(seqs.length); // no duplicates after resume
  expect(seen.length).toBe(8);

  // Eviction: A floods SWM past its capacity; evicted KEMs leave B's LPA.
  await a.publishKemsToSwmBatch(
    Array.from({ length: MAX_ENTRIES }, (_, i) => ({ content: `flood ${i}`, metadata: { room: "flood" } })),
    { concurrency: 4 },
  );
  await waitFor(() => !b.lpa.has(k2!.id));
  expect(seen.some((e) => e.eventType === EventType.KEM_EVICTED && e.kemPayload?.id === k2!.id)).toBe(true);

  // A long outage: more events than the server keeps → RELOAD_REQUIRED → B reloads its LPA from SWM.
  const live = (await a.publishKemsToSwmBatch([{ content: "survivor", metadata: { room: "r1" } }])).kems[0]!;
  await waitFor(() => b.lpa.has(live.id));
  proxy.drop(true);
  await a.publishKemsToSwmBatch([{ id: live.id, content: "survivor v2", metadata: { room: "r1" } }]);
  await a.publishKemsToSwmBatch(
    Array.from({ length: HISTORY + 5 }, (_, i) => ({ content: `noise ${i}`, metadata: { room: "noise" } })),
    { concurrency: 4 },
  );
  proxy.up();
  await waitFor(
    () => sub.reloads > 0 && kemText(b.lpa.peek(live.id) ?? { content: new Uint8Array() }) === "survivor v2",
  );
  expect(seen.some((e) => e.eventType === EventType.RELOAD_REQUIRED)).toBe(true);
  // Every KEM B still caches matches SWM exactly.
  for (const k of b.queryLocalMemory()) {
    const remote = (await a.swm.querySWM({ query: { ids: [k.id] } })).kems[0];
    expect(remote && kemText(remote)).toBe(kemText(k));
  }
  sub.close();
  await sub.done;
  expect(errors.length).toBeGreaterThan(0); // the drops were seen as errors and retried
});
