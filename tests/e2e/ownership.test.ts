/**
 * One ownership rule for GLM and SWM (Security): a KEM id owned by a namespace in either store can
 * only be written by a principal allowed in that namespace — StoreKEM, BatchStoreKEMs and
 * PublishKEMToSWM check both stores; LoadKEMsFromGLM and the write-behind worker re-check it.
 * Real server, real keys file, Connect, gRPC-Web and gRPC over real sockets.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type Client, Code, createClient } from "@connectrpc/connect";
import { newApiKey } from "../../runtime/auth/authenticator.ts";
import type { DcsmServer } from "../../runtime/server.ts";
import { GlobalLongTermMemoryService } from "../../sdk/gen/dcsm/v1/glm_service_pb.ts";
import { SharedWorkingMemoryService } from "../../sdk/gen/dcsm/v1/swm_service_pb.ts";
import { codeOf } from "../helpers/connect-code.ts";
import { apiKeysFile, startTestServer } from "../helpers/server.ts";
import { removeTempDirs } from "../helpers/temp-dir.ts";
import { PROTOCOLS, type Protocol, transportTo } from "../helpers/transports.ts";
import { waitFor } from "../helpers/wait-for.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const ALL = "read,write,publish,subscribe,lock";
const keyA = newApiKey("agent-a", [`team-a:${ALL}`]);
const keyB = newApiKey("agent-b", [`team-b:${ALL}`]);
const keyAdmin = newApiKey("ops", ["*:admin"]);
let server: DcsmServer;

interface Clients {
  glm: Client<typeof GlobalLongTermMemoryService>;
  swm: Client<typeof SharedWorkingMemoryService>;
}
function as(protocol: Protocol, token: string): Clients {
  const t = transportTo(server, protocol, token);
  return { glm: createClient(GlobalLongTermMemoryService, t), swm: createClient(SharedWorkingMemoryService, t) };
}

beforeAll(async () => {
  const keysFile = apiKeysFile([keyA, keyB, keyAdmin]);
  // A slow write-behind (1.5 s) leaves time to race a GLM write against a queued KEM.
  server = await startTestServer({ apiKeysFile: keysFile, swmWriteBehindDelayMs: 1500, swmWriteBehindBatch: 1000 });
});
afterAll(async () => {
  await server?.close();
  removeTempDirs();
});

async function drained(): Promise<void> {
  await waitFor(async () => (await server.swm.writeBehindStats()).depth === 0, { what: "an empty write-behind queue" });
}

describe.each(PROTOCOLS)("ownership across GLM and SWM over %s", (protocol) => {
  test("an id B holds in SWM cannot be stored in GLM by A (StoreKEM and BatchStoreKEMs)", async () => {
    const a = as(protocol, keyA.key);
    const b = as(protocol, keyB.key);
    const id = `b-swm-1-${protocol}`;
    await b.swm.publishKEMToSWM({ kemToPublish: { id, content: enc.encode("b's hot fact") } });
    expect(await codeOf(a.glm.storeKEM({ kem: { id, content: enc.encode("a takes the id") } }))).toBe(
      Code.PermissionDenied,
    );
    const batch = await a.glm.batchStoreKEMs({
      kems: [{ id, content: enc.encode("a takes the id") }, { content: enc.encode("a's own") }],
    });
    expect(batch.results.map((r) => r.outcome.case)).toEqual(["error", "kem"]);
    expect((await as(protocol, keyAdmin.key).glm.retrieveKEMs({ query: { ids: [id] } })).kems).toEqual([]);
  });

  test("an id A owns in GLM cannot be republished by B even when B cached it first", async () => {
    const a = as(protocol, keyA.key);
    const b = as(protocol, keyB.key);
    const admin = as(protocol, keyAdmin.key);
    const id = `shared-x-${protocol}`;
    await b.swm.publishKEMToSWM({ kemToPublish: { id, content: enc.encode("b first") } });
    await admin.glm.storeKEM({
      kem: { id, content: enc.encode("a's durable row"), metadata: { namespace: "team-a" } },
    }); // state left by an earlier race
    expect(
      await codeOf(
        b.swm.publishKEMToSWM({
          kemToPublish: { id, content: enc.encode("b again") },
          persistToGlmIfNewOrUpdated: true,
        }),
      ),
    ).toBe(Code.PermissionDenied);
    const row = (await a.glm.retrieveKEMs({ query: { ids: [id] } })).kems[0]!;
    expect(row.metadata?.namespace).toBe("team-a");
    expect(dec.decode(row.content)).toBe("a's durable row");
  });

  test("LoadKEMsFromGLM by A does not take over an id B holds in SWM", async () => {
    const a = as(protocol, keyA.key);
    const b = as(protocol, keyB.key);
    const admin = as(protocol, keyAdmin.key);
    const id = `b-swm-2-${protocol}`;
    await b.swm.publishKEMToSWM({ kemToPublish: { id, content: enc.encode("b's entry") } });
    await admin.glm.storeKEM({
      kem: { id, content: enc.encode("a's GLM row with b's id"), metadata: { namespace: "team-a" } },
    });
    const loaded = await a.swm.loadKEMsFromGLM({ queryForGlm: { ids: [id] } });
    expect(loaded.loadedKemIds).not.toContain(id);
    const cached = (await b.swm.querySWM({ query: { ids: [id] } })).kems[0]!;
    expect(cached.metadata?.namespace).toBe("team-b");
    expect(dec.decode(cached.content)).toBe("b's entry");
  });

  test("write-behind does not move A's GLM row into B's namespace when the row appears after B's publish was queued", async () => {
    const b = as(protocol, keyB.key);
    const admin = as(protocol, keyAdmin.key);
    const id = `raced-${protocol}`;
    const published = await b.swm.publishKEMToSWM({
      kemToPublish: { id, content: enc.encode("b's queued version") },
      persistToGlmIfNewOrUpdated: true,
    });
    expect(published.queuedForGlmPersistence).toBe(true);
    await admin.glm.storeKEM({
      kem: { id, content: enc.encode("a's row, written while b's was queued"), metadata: { namespace: "team-a" } },
    });
    const rejectedBefore = (await server.swm.writeBehindStats()).rejected;
    await drained();
    const row = (await admin.glm.retrieveKEMs({ query: { ids: [id] } })).kems[0]!;
    expect(row.metadata?.namespace).toBe("team-a");
    expect(dec.decode(row.content)).toBe("a's row, written while b's was queued");
    expect((await server.swm.writeBehindStats()).rejected).toBe(rejectedBefore + 1);
  });
});
