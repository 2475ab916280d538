/**
 * Agent SDK against a real server (real model, in-process SWM) over real sockets: cache tiers
 * (LPA → SWM → GLM), store/update/delete, SWM publish and load, retries, timeouts and aborts,
 * locks with `await using`, counters.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { Code, ConnectError } from "@connectrpc/connect";
import type { DcsmServer } from "../../runtime/server.ts";
import { createAgentSDK, kemText, LockStatus, ReleaseStatus } from "../../sdk/index.ts";
import { createAgentSDK as createServerAgentSDK } from "../../sdk/server.ts";
import { serverPerFile } from "../helpers/server-per-file.ts";
import { startTcpProxy, type TcpProxy } from "../helpers/tcp-proxy.ts";

let server: DcsmServer;
let proxy: TcpProxy;

afterAll(() => proxy?.close()); // registered first: the proxy closes before the server
serverPerFile(async (s) => {
  server = s;
  proxy = await startTcpProxy(Number(new URL(s.httpUrl).port));
});

const agent = (id: string, extra: Partial<Parameters<typeof createAgentSDK>[0]> = {}) =>
  createAgentSDK({ baseUrl: server.httpUrl, agentId: id, lpa: { maxEntries: 100, indexedKeys: ["topic"] }, ...extra });

describe("KEM operations with the local memory's cache semantics", () => {
  test("storeKems writes GLM and the LPA; getKem serves LPA, then SWM, then GLM, writing back", async () => {
    const a = agent("a1");
    const out = await a.storeKems([
      { content: "alpha about locks", metadata: { topic: "locks" } },
      { content: "beta about events", metadata: { topic: "events" } },
      { content: "", metadata: {} }, // empty content: InvalidArgument for this item only
    ]);
    expect(out.kems.length).toBe(2);
    expect(out.failed.map((f) => [f.index, f.error.code])).toEqual([[2, Code.InvalidArgument]]);
    const id = out.kems[0]!.id;
    expect(a.lpa.has(id)).toBe(true);
    expect(a.queryLocalMemory({ metadataFilters: { topic: "locks" } }).map((k) => k.id)).toEqual([id]);

    // Another agent: LPA miss, SWM miss → GLM; the result lands in its LPA.
    const b = agent("b1");
    const fromGlm = await b.getKem(id);
    expect(kemText(fromGlm!)).toBe("alpha about locks");
    expect(b.lpa.has(id)).toBe(true);

    // SWM has a newer version than GLM: a forced remote read takes SWM's.
    await a.swm.publishKEMToSWM({
      kemToPublish: { id, content: new TextEncoder().encode("alpha v2 in SWM"), metadata: { topic: "locks" } },
      agentId: "a1",
    });
    expect(kemText((await b.getKem(id))!)).toBe("alpha about locks"); // LPA first
    expect(kemText((await b.getKem(id, { forceRemote: true }))!)).toBe("alpha v2 in SWM");
    expect(kemText(b.lpa.peek(id)!)).toBe("alpha v2 in SWM");
    expect(await b.getKem("no-such-kem")).toBeUndefined();
  });

  test("ingestDocuments sends documents to KPS in batches and reports each one, failures included", async () => {
    const a = agent("a-ingest");
    const enc = new TextEncoder();
    const docs = [
      { rawContent: enc.encode("The first note says agents share memory."), dataId: "sdk-ingest-1" },
      { rawContent: new Uint8Array(), dataId: "sdk-ingest-empty" }, // InvalidArgument for this document only
      { rawContent: enc.encode("The third note is about locks."), dataId: "sdk-ingest-3" },
    ];
    const out = await a.ingestDocuments(docs, { batchSize: 2 }); // two calls: [0, 1] and [2]
    expect(out.processed.map((p) => p.index)).toEqual([0, 2]);
    expect(out.failed.map((f) => [f.index, f.error.code])).toEqual([[1, Code.InvalidArgument]]);
    const kem = (await a.glm.retrieveKEMs({ query: { ids: out.processed[1]!.response.kemIds }, pageSize: 1 })).kems[0]!;
    expect(kemText(kem)).toBe("The third note is about locks.");
    expect(kem.metadata?.data_id).toBe("sdk-ingest-3");
  });

  test("updateKem and deleteKem keep the LPA in step with GLM", async () => {
    const a = agent("a2");
    const [kem] = (await a.storeKems([{ content: "to update", metadata: { topic: "t", keep: "yes" } }])).kems;
    const updated = await a.updateKem(kem!.id, { content: "updated", metadata: { topic: "u" } });
    expect(kemText(updated)).toBe("updated");
    expect(updated.metadata).toEqual({ topic: "u", keep: "yes" }); // merged
    expect(kemText(a.lpa.peek(kem!.id)!)).toBe("updated");
    expect(a.queryLocalMemory({ metadataFilters: { topic: "t" } })).toEqual([]);
    expect(a.queryLocalMemory({ metadataFilters: { topic: "u" } }).length).toBe(1);
    await expect(a.updateKem("missing-id", { content: "x" })).rejects.toMatchObject({ code: Code.NotFound });
    await a.deleteKem(kem!.id);
    expect(a.lpa.has(kem!.id)).toBe(false);
    await expect(a.deleteKem(kem!.id)).rejects.toMatchObject({ code: Code.NotFound });
    expect(await a.getKem(kem!.id)).toBeUndefined();
  });

  test("publishKemsToSwmBatch and loadKemsToLpaFromSwm", async () => {
    const a = agent("a3");
    const res = await a.publishKemsToSwmBatch(
      Array.from({ length: 12 }, (_, i) => ({ content: `p${i}`, metadata: { topic: "batch3", i } })),
      { concurrency: 4 },
    );
    expect(res.failed).toEqual([]);
    expect(new Set(res.kems.map((k) => k.id)).size).toBe(12);
    const b = agent("b3");
    const loaded = await b.loadKemsToLpaFromSwm({ metadataFilters: { topic: "batch3" } });
    expect(loaded.length).toBe(12);
    expect(b.queryLocalMemory({ metadataFilters: { topic: "batch3" } }).length).toBe(12);
    expect(b.queryLocalMemory({ metadataFilters: { topic: "batch3", i: 3 } }).map(kemText)).toEqual(["p3"]);
    // Plain values and Dates in remote queries: a number filter, and a time window.
    expect(
      (await agent("c3").loadKemsToLpaFromSwm({ metadataFilters: { topic: "batch3", i: 7 } })).map(kemText),
    ).toEqual(["p7"]);
    expect(
      await b.loadKemsToLpaFromSwm({
        metadataFilters: { topic: "batch3" },
        updatedAfter: new Date(Date.now() + 60_000),
      }),
    ).toEqual([]);
    expect((await b.loadKemsToLpaFromSwm({ metadataFilters: { topic: "batch3" } }, { maxKems: 5 })).length).toBe(5);
    await expect(b.loadKemsToLpaFromSwm({ textQuery: "semantic" })).rejects.toMatchObject({
      code: Code.InvalidArgument,
    });
  });
});

describe("transport behaviour", () => {
  test("idempotent calls are retried through a network outage; non-idempotent ones are not", async () => {
    const retries: string[] = [];
    const a = createAgentSDK({
      baseUrl: proxy.url,
      agentId: "r1",
      retry: { maxRetries: 6, initialDelayMs: 20, maxDelayMs: 100 },
      onRetry: (_e, m) => {
        if (retries.push(m) === 2) proxy.up(); // the network comes back after two failed attempts
      },
    });
    proxy.drop(true);
    expect(await a.getDistributedCounter("never")).toBe(0n);
    expect(retries).toEqual(["GetCounter", "GetCounter"]);
    proxy.drop(true);
    await expect(a.incrementDistributedCounter("c-no-retry")).rejects.toMatchObject({ code: Code.Unavailable });
    proxy.up();
    expect(await a.getDistributedCounter("c-no-retry")).toBe(0n);
    // Retries are bounded: maxRetries failed retries, then the Unavailable error.
    const tries: string[] = [];
    const b = createAgentSDK({
      baseUrl: proxy.url,
      agentId: "r2",
      retry: { maxRetries: 2, initialDelayMs: 5, maxDelayMs: 10 },
      onRetry: (_e, m) => tries.push(m),
    });
    proxy.drop(true);
    await expect(b.getDistributedLockInfo("x")).rejects.toMatchObject({ code: Code.Unavailable });
    expect(tries).toEqual(["GetLockInfo", "GetLockInfo"]);
    proxy.up();
  });

  test("per-call timeout and AbortSignal", async () => {
    const a = agent("t1");
    const holder = agent("t2");
    const l = await holder.distributedLock("busy-resource", { leaseMs: 5000 });
    const t0 = Date.now();
    await expect(a.acquireDistributedLock("busy-resource", { waitMs: 3000, timeoutMs: 300 })).rejects.toMatchObject({
      code: Code.DeadlineExceeded,
    });
    expect(Date.now() - t0).toBeLessThan(2000);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    await expect(a.acquireDistributedLock("busy-resource", { waitMs: 3000, signal: ac.signal })).rejects.toMatchObject({
      code: Code.Canceled,
    });
    await l.release();
  });

  test("server entry speaks gRPC over HTTP/2", async () => {
    const g = createServerAgentSDK({ baseUrl: server.grpcUrl, agentId: "g1" });
    expect(await g.incrementDistributedCounter("grpc-counter", 5)).toBe(5n);
    expect(() => createAgentSDK({ baseUrl: server.httpUrl, protocol: "grpc", agentId: "x" })).toThrow(TypeError);
    expect(() => createAgentSDK({ baseUrl: server.httpUrl, agentId: "" })).toThrow(TypeError);
  });
});

describe("locks and counters", () => {
  test("await using releases on scope exit and exposes a growing fencing token", async () => {
    const a = agent("l1");
    const b = agent("l2");
    let first: bigint;
    {
      await using lock = await a.distributedLock("res-1", { leaseMs: 2000 });
      first = lock.fencingToken;
      expect((await b.getDistributedLockInfo("res-1")).currentHolderAgentId).toBe("l1");
      await expect(b.distributedLock("res-1", { waitMs: 0 })).rejects.toMatchObject({ code: Code.Aborted });
      const raw = await b.acquireDistributedLock("res-1");
      expect(raw.status).toBe(LockStatus.NOT_AVAILABLE);
    }
    expect((await b.getDistributedLockInfo("res-1")).isLocked).toBe(false);
    const again = await b.acquireDistributedLock("res-1", { leaseMs: 1000 });
    expect(again.status).toBe(LockStatus.ACQUIRED);
    expect(again.fencingToken).toBeGreaterThan(first);
    expect(await a.releaseDistributedLock("res-1", again.lockId)).toBe(ReleaseStatus.INVALID_LOCK_ID);
    expect(await b.releaseDistributedLock("res-1", again.lockId)).toBe(ReleaseStatus.RELEASED);
  });

  test("renew extends the lease; a lease lost to another agent makes renew fail with Aborted", async () => {
    const a = agent("l3");
    const b = agent("l4");
    const lock = await a.distributedLock("res-2", { leaseMs: 300 });
    const first = lock.leaseExpiresAtMs;
    await Bun.sleep(150);
    await lock.renew(300);
    expect(lock.leaseExpiresAtMs).toBeGreaterThan(first);
    await Bun.sleep(200); // past the first lease, inside the renewed one
    expect((await b.acquireDistributedLock("res-2")).status).toBe(LockStatus.NOT_AVAILABLE);
    await Bun.sleep(250); // the renewed lease ends too
    const taken = await b.distributedLock("res-2", { leaseMs: 5000, waitMs: 0 });
    expect(taken.fencingToken).toBeGreaterThan(lock.fencingToken);
    await expect(lock.renew()).rejects.toMatchObject({ code: Code.Aborted });
    expect(lock.held).toBe(false);
    expect(await lock.release()).toBe(ReleaseStatus.INVALID_LOCK_ID);
    expect((await b.getDistributedLockInfo("res-2")).currentHolderAgentId).toBe("l4");
    await taken.release();
  });

  test("counters", async () => {
    const a = agent("c1");
    await Promise.all(Array.from({ length: 20 }, () => a.incrementDistributedCounter("cnt")));
    expect(await a.incrementDistributedCounter("cnt", -5n)).toBe(15n);
    expect(await agent("c2").getDistributedCounter("cnt")).toBe(15n);
  });
});

test("ConnectError codes surface unchanged", async () => {
  const err = await agent("e1")
    .getDistributedLockInfo("")
    .catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ConnectError);
  expect((err as ConnectError).code).toBe(Code.InvalidArgument);
});
