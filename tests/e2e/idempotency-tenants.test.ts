/**
 * Idempotency keys between tenants over real sockets (docs/storage.md "Idempotency keys"): two
 * namespaces using the same key never see or block each other's KEMs, on Connect, gRPC-Web and
 * gRPC; a deleted KEM's key can be reused; an oversized key is refused for its item only.
 */
import { describe, expect, test } from "bun:test";
import { type Client, Code, createClient } from "@connectrpc/connect";
import { newApiKey } from "../../runtime/auth/authenticator.ts";
import type { DcsmServer } from "../../runtime/server.ts";
import { GlobalLongTermMemoryService } from "../../sdk/gen/dcsm/v1/glm_service_pb.ts";
import { codeOf } from "../helpers/connect-code.ts";
import { apiKeysFile } from "../helpers/server.ts";
import { serverPerFile } from "../helpers/server-per-file.ts";
import { PROTOCOLS, type Protocol, transportTo } from "../helpers/transports.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const ALL = "read,write,publish,subscribe,lock";
const keyA = newApiKey("agent-a", [`team-a:${ALL}`]);
const keyB = newApiKey("agent-b", [`team-b:${ALL}`]);
let server: DcsmServer;

serverPerFile((s) => (server = s), { apiKeysFile: apiKeysFile([keyA, keyB]) });

function glmAs(protocol: Protocol, token: string): Client<typeof GlobalLongTermMemoryService> {
  return createClient(GlobalLongTermMemoryService, transportTo(server, protocol, token));
}

const kem = (namespace: string, text: string) => ({ content: enc.encode(text), metadata: { namespace } });

describe("idempotency keys between tenants", () => {
  for (const protocol of PROTOCOLS) {
    test(`${protocol}: the same key in two namespaces names two KEMs, each returned only to its own namespace`, async () => {
      const a = glmAs(protocol, keyA.key);
      const b = glmAs(protocol, keyB.key);
      const key = `order-1-${protocol}`;
      const first = (await a.storeKEM({ kem: kem("team-a", "a's private order"), idempotencyKey: key })).kem!;
      const other = (await b.storeKEM({ kem: kem("team-b", "b's order"), idempotencyKey: key })).kem!;
      expect(other.id).not.toBe(first.id);
      expect(dec.decode(other.content)).toBe("b's order");
      expect(other.metadata?.namespace).toBe("team-b");
      // Retries in each namespace return that namespace's KEM, and store nothing new.
      expect((await a.storeKEM({ kem: kem("team-a", "retry"), idempotencyKey: key })).kem!.id).toBe(first.id);
      const batch = await b.batchStoreKEMs({ kems: [kem("team-b", "retry")], idempotencyKeys: [key] });
      expect(batch.results[0]!.outcome.case).toBe("kem");
      expect((batch.results[0]!.outcome.value as { id: string }).id).toBe(other.id);
    });
  }

  test("a deleted KEM's key stores again; an oversized key fails only its own item", async () => {
    const a = glmAs("connect", keyA.key);
    const stored = (await a.storeKEM({ kem: kem("team-a", "to delete"), idempotencyKey: "reused" })).kem!;
    await a.deleteKEM({ kemId: stored.id });
    const res = await a.batchStoreKEMs({
      kems: [kem("team-a", "again"), kem("team-a", "long key")],
      idempotencyKeys: ["reused", "k".repeat(257)],
    });
    expect(res.results[0]!.outcome.case).toBe("kem");
    expect((res.results[0]!.outcome.value as { id: string }).id).not.toBe(stored.id);
    expect(res.results[1]!.outcome).toMatchObject({ case: "error", value: { code: "invalid_argument" } });
    expect(await codeOf(a.storeKEM({ kem: kem("team-a", "x"), idempotencyKey: "k".repeat(257) }))).toBe(
      Code.InvalidArgument,
    );
  });
});
