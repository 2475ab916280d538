/**
 * Tenant isolation beyond namespaces (Security), against a real server with a real keys file over
 * Connect, gRPC-Web and gRPC: one principal cannot take every event-stream slot; persisting from
 * SWM to GLM needs `write`; KPS looks up and deletes earlier chunks only in the namespace it writes; /health and the
 * embedding cache reveal nothing across tenants; another tenant's id looks unknown; lock grants are
 * bound to the principal.
 * Keys: agent-a / agent-b (every right but admin on team-a / team-b), publish-only and read-only
 * keys on team-a, and an admin key.
 */
import { describe, expect, test } from "bun:test";
import { type Client, Code, createClient } from "@connectrpc/connect";
import { newApiKey } from "../../runtime/auth/authenticator.ts";
import type { DcsmServer } from "../../runtime/server.ts";
import { GlobalLongTermMemoryService } from "../../sdk/gen/dcsm/v1/glm_service_pb.ts";
import { KnowledgeProcessorService } from "../../sdk/gen/dcsm/v1/kps_service_pb.ts";
import {
  LockStatus,
  ReleaseStatus,
  SharedWorkingMemoryService,
  type SWMMemoryEvent,
} from "../../sdk/gen/dcsm/v1/swm_service_pb.ts";
import { codeOf } from "../helpers/connect-code.ts";
import { apiKeysFile } from "../helpers/server.ts";
import { serverPerFile } from "../helpers/server-per-file.ts";
import { PROTOCOLS, type Protocol, transportTo } from "../helpers/transports.ts";
import { waitFor } from "../helpers/wait-for.ts";

const ALL = "read,write,publish,subscribe,lock";
const keyA = newApiKey("agent-a", [`team-a:${ALL}`]);
const keyB = newApiKey("agent-b", [`team-b:${ALL}`]);
const keyPublishA = newApiKey("publisher-a", ["team-a:publish"]);
const keyReadA = newApiKey("reader-a", ["team-a:read"]);
const keyAdmin = newApiKey("ops", ["*:admin"]);
const keyLockA2 = newApiKey("agent-a2", ["team-a:lock"]);
const STREAMS_PER_PRINCIPAL = 3;
let server: DcsmServer;

function swmAs(protocol: Protocol, token: string): Client<typeof SharedWorkingMemoryService> {
  return createClient(SharedWorkingMemoryService, transportTo(server, protocol, token));
}
function glmAs(protocol: Protocol, token: string): Client<typeof GlobalLongTermMemoryService> {
  return createClient(GlobalLongTermMemoryService, transportTo(server, protocol, token));
}

serverPerFile((s) => (server = s), {
  apiKeysFile: apiKeysFile([keyA, keyB, keyPublishA, keyReadA, keyAdmin, keyLockA2]),
  swmMaxSubscribersPerPrincipal: STREAMS_PER_PRINCIPAL,
});

/** Opens an event stream and waits for its first message; resolves the outcome code and a closer. */
async function openStream(
  swm: Client<typeof SharedWorkingMemoryService>,
): Promise<{ code: Code | "ok"; close(): void }> {
  const ac = new AbortController();
  const it = swm
    .subscribeToSWMEvents({}, { signal: ac.signal })
    [Symbol.asyncIterator]() as AsyncIterator<SWMMemoryEvent>;
  const code = await codeOf(it.next());
  return { code, close: () => ac.abort() };
}

describe.each(PROTOCOLS)("per-principal event stream cap over %s", (protocol) => {
  test(`a principal gets ${STREAMS_PER_PRINCIPAL} streams, then ResourceExhausted; another principal still gets one; closing frees a slot`, async () => {
    const mine = [];
    for (let i = 0; i < STREAMS_PER_PRINCIPAL; i++) mine.push(await openStream(swmAs(protocol, keyA.key)));
    expect(mine.map((s) => s.code)).toEqual(Array(STREAMS_PER_PRINCIPAL).fill("ok"));
    const over = await openStream(swmAs(protocol, keyA.key));
    expect(over.code).toBe(Code.ResourceExhausted);
    const other = await openStream(swmAs(protocol, keyB.key));
    expect(other.code).toBe("ok");
    mine.pop()!.close();
    // The server frees the slot when it sees the cancellation: retry until it has.
    const again = await waitFor(
      async () => {
        const s = await openStream(swmAs(protocol, keyA.key));
        return s.code === "ok" ? s : undefined;
      },
      { timeoutMs: 1000, what: "a freed stream slot" },
    );
    expect(again.code).toBe("ok");
    for (const s of [...mine, other, again]) s.close();
    await Bun.sleep(100); // let the server see the cancellations before the next protocol
  });
});

describe.each(PROTOCOLS)("persisting to GLM from SWM needs write, over %s", (protocol) => {
  test("a publish-only key may publish but not persist; a key with write may persist", async () => {
    const id = `persisted-${protocol}`;
    const admin = glmAs(protocol, keyAdmin.key);
    await admin.storeKEM({
      kem: { id, content: new TextEncoder().encode("a's durable row"), metadata: { namespace: "team-a" } },
    });
    const publisher = swmAs(protocol, keyPublishA.key);
    expect(
      await codeOf(
        publisher.publishKEMToSWM({
          kemToPublish: { id, content: new TextEncoder().encode("overwrite via write-behind") },
          persistToGlmIfNewOrUpdated: true,
        }),
      ),
    ).toBe(Code.PermissionDenied);
    expect(
      await codeOf(
        publisher.publishKEMToSWM({
          kemToPublish: { content: new TextEncoder().encode("new, persisted") },
          persistToGlmIfNewOrUpdated: true,
        }),
      ),
    ).toBe(Code.PermissionDenied);
    expect(
      await codeOf(publisher.publishKEMToSWM({ kemToPublish: { content: new TextEncoder().encode("SWM only") } })),
    ).toBe("ok");
    const writer = await swmAs(protocol, keyA.key).publishKEMToSWM({
      kemToPublish: { content: new TextEncoder().encode("a persists") },
      persistToGlmIfNewOrUpdated: true,
    });
    expect(writer.queuedForGlmPersistence).toBe(true);
    await waitFor(async () => (await server.swm.writeBehindStats()).depth === 0, {
      what: "an empty write-behind queue",
    });
    const row = (await admin.retrieveKEMs({ query: { ids: [id] } })).kems[0]!;
    expect(new TextDecoder().decode(row.content)).toBe("a's durable row");
  });
});

describe.each(PROTOCOLS)("KPS stays within the namespace it writes, over %s", (protocol) => {
  test("an admin ingest of the same source_path neither reuses nor deletes another tenant's chunks", async () => {
    const path = `docs/shared-${protocol}.md`;
    const enc = new TextEncoder();
    const kpsA = createClient(KnowledgeProcessorService, transportTo(server, protocol, keyA.key));
    const kpsAdmin = createClient(KnowledgeProcessorService, transportTo(server, protocol, keyAdmin.key));
    const a = await kpsA.processRawData({
      sourcePath: path,
      rawContent: enc.encode("# Plan\nteam-a's private roadmap"),
    });
    expect(a.kemIds.length).toBeGreaterThan(0);
    const admin = await kpsAdmin.processRawData({
      sourcePath: path,
      rawContent: enc.encode("# Ops\nthe operators' runbook, a different text"),
    });
    expect(admin.chunksRemoved).toBe(0);
    expect(admin.kemIds.some((id) => a.kemIds.includes(id))).toBe(false);
    const still = await glmAs(protocol, keyA.key).retrieveKEMs({ query: { ids: a.kemIds } });
    expect(still.kems.map((k) => k.id).sort()).toEqual([...a.kemIds].sort());
    expect(still.kems.every((k) => k.metadata?.namespace === "team-a")).toBe(true);
  });
});

describe("/health and the embedding cache reveal nothing across tenants", () => {
  test("/health without credentials (or without admin) says only ready; an admin gets the details", async () => {
    const get = async (token?: string) =>
      (await (
        await fetch(`${server.httpUrl}/health`, { headers: token ? { authorization: `Bearer ${token}` } : {} })
      ).json()) as Record<string, unknown>;
    expect(Object.keys(await get())).toEqual(["status"]);
    expect(Object.keys(await get(keyA.key))).toEqual(["status"]);
    expect((await get()).status).toBe("ok");
    const full = await get(keyAdmin.key);
    expect(Object.keys(full)).toEqual(expect.arrayContaining(["status", "kems", "embedding", "rssBytes"]));
  });

  test("/v1/embeddings: an input embedded with team-a's key is not a cache hit for team-b's key", async () => {
    const hits = async () => {
      const m = await (
        await fetch(`${server.httpUrl}/metrics`, { headers: { authorization: `Bearer ${keyAdmin.key}` } })
      ).text();
      return Number(/^dcsm_embedding_cache_lookups_total\{result="hit"\} (\S+)$/m.exec(m)?.[1]);
    };
    const embed = (token: string) =>
      fetch(`${server.httpUrl}/v1/embeddings`, {
        method: "POST",
        body: JSON.stringify({ input: "team-a's confidential merger memo" }),
        headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
      });
    expect((await embed(keyA.key)).status).toBe(200);
    const before = await hits();
    expect((await embed(keyB.key)).status).toBe(200);
    expect(await hits()).toBe(before);
    expect((await embed(keyA.key)).status).toBe(200);
    expect(await hits()).toBe(before + 1);
  });

  test.each(PROTOCOLS)(
    "over %s, a text embedded by team-a is not a cache hit for team-b, and is one for team-a",
    async (protocol) => {
      const hits = async () => {
        const m = await (
          await fetch(`${server.httpUrl}/metrics`, { headers: { authorization: `Bearer ${keyAdmin.key}` } })
        ).text();
        return Number(/^dcsm_embedding_cache_lookups_total\{result="hit"\} (\S+)$/m.exec(m)?.[1]);
      };
      const textQuery = `the launch window of the orbital telescope, via ${protocol}`;
      await glmAs(protocol, keyA.key).retrieveKEMs({ query: { textQuery } });
      const before = await hits();
      expect(Number.isFinite(before)).toBe(true);
      await glmAs(protocol, keyB.key).retrieveKEMs({ query: { textQuery } });
      expect(await hits()).toBe(before);
      await glmAs(protocol, keyA.key).retrieveKEMs({ query: { textQuery } });
      expect(await hits()).toBe(before + 1);
    },
  );
});

describe.each(PROTOCOLS)("another tenant's id looks like an unknown one, over %s", (protocol) => {
  test("UpdateKEM and DeleteKEM answer NotFound for both; a store over it is denied without naming the namespace", async () => {
    const enc = new TextEncoder();
    const a = glmAs(protocol, keyA.key);
    const b = glmAs(protocol, keyB.key);
    const kemA = (await a.storeKEM({ kem: { content: enc.encode("team-a's secret") } })).kem!;
    const unknown = "00000000-0000-4000-8000-000000000000";
    const failure = async (p: Promise<unknown>) =>
      p.then(
        () => "ok",
        (err: { code: Code; rawMessage: string }) => ({ code: err.code, message: err.rawMessage }),
      );
    const update = (id: string) =>
      failure(
        b.updateKEM({ kemId: id, kemDataUpdate: { content: enc.encode("x") }, updateMask: { paths: ["content"] } }),
      );
    const [foreignUpdate, unknownUpdate] = [await update(kemA.id), await update(unknown)];
    expect(foreignUpdate).toEqual({ code: Code.NotFound, message: `KEM ${kemA.id} not found` });
    expect(unknownUpdate).toEqual({ code: Code.NotFound, message: `KEM ${unknown} not found` });
    expect(await failure(b.deleteKEM({ kemId: kemA.id }))).toEqual({
      code: Code.NotFound,
      message: `KEM ${kemA.id} not found`,
    });
    expect(await failure(b.deleteKEM({ kemId: unknown }))).toEqual({
      code: Code.NotFound,
      message: `KEM ${unknown} not found`,
    });
    const store = await failure(b.storeKEM({ kem: { id: kemA.id, content: enc.encode("x") } }));
    expect(store).toMatchObject({ code: Code.PermissionDenied });
    expect(JSON.stringify(store)).not.toContain("team-a");
    // A caller who may read team-a is told why instead.
    expect(await codeOf(glmAs(protocol, keyReadA.key).deleteKEM({ kemId: kemA.id }))).toBe(Code.PermissionDenied);
    expect((await a.retrieveKEMs({ query: { ids: [kemA.id] } })).kems.length).toBe(1);
  });
});

describe.each(PROTOCOLS)("lock grants are bound to the principal, over %s", (protocol) => {
  test("GetLockInfo shows the lock id only to the holder; another principal cannot renew or release with the holder's agent id", async () => {
    const resourceId = `team-a/deploy-${protocol}`;
    const holder = swmAs(protocol, keyA.key);
    const other = swmAs(protocol, keyLockA2.key);
    const lock = await holder.acquireLock({ resourceId, agentId: "builder", leaseDurationMs: 60_000 });
    expect(lock.status).toBe(LockStatus.ACQUIRED);
    const seenByReader = await swmAs(protocol, keyReadA.key).getLockInfo({ resourceId });
    expect(seenByReader.isLocked).toBe(true);
    expect(seenByReader.currentHolderAgentId).toBe("builder");
    expect(seenByReader.lockId).toBe("");
    expect((await other.getLockInfo({ resourceId })).lockId).toBe("");
    expect((await holder.getLockInfo({ resourceId })).lockId).toBe(lock.lockId);
    const renew = await other.acquireLock({ resourceId, agentId: "builder", leaseDurationMs: 60_000 });
    expect(renew.status).toBe(LockStatus.NOT_AVAILABLE);
    const release = await other.releaseLock({ resourceId, agentId: "builder", lockId: lock.lockId });
    expect(release.status).toBe(ReleaseStatus.INVALID_LOCK_ID);
    expect((await holder.getLockInfo({ resourceId })).isLocked).toBe(true);
    expect((await holder.releaseLock({ resourceId, agentId: "builder", lockId: lock.lockId })).status).toBe(
      ReleaseStatus.RELEASED,
    );
  });
});
