/**
 * Security (docs/security.md): authentication on every protocol and namespace scopes on every RPC, against
 * a real server with a real keys file, real HS256/RS256 JWTs (jose) and real sockets. Two tenants,
 * team-a and team-b, each with its own key: one must never read, update, delete, overwrite,
 * subscribe to or lock the other's data.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Client, Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { exportSPKI, generateKeyPair, SignJWT } from "jose";
import { newApiKey } from "../../runtime/auth/authenticator.ts";
import { loadConfig } from "../../runtime/config.ts";
import { type DcsmServer, startDcsmServer } from "../../runtime/server.ts";
import { bearerAuth } from "../../sdk/auth.ts";
import { GlobalLongTermMemoryService } from "../../sdk/gen/dcsm/v1/glm_service_pb.ts";
import { KnowledgeProcessorService } from "../../sdk/gen/dcsm/v1/kps_service_pb.ts";
import { EventType, SharedWorkingMemoryService } from "../../sdk/gen/dcsm/v1/swm_service_pb.ts";
import { Health } from "../../sdk/gen/grpc/health/v1/health_pb.ts";
import { codeOf } from "../helpers/connect-code.ts";
import { testEmbedder } from "../helpers/model.ts";
import { startTestServer } from "../helpers/server.ts";
import { removeTempDirs, tempDir } from "../helpers/temp-dir.ts";
import { waitFor } from "../helpers/wait-for.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const str = (value: string) => ({ kind: { case: "stringValue" as const, value } });
const ALL = "read,write,publish,subscribe,lock";
const JWT_SECRET = "an HS256 secret of at least thirty-two bytes";

const keyA = newApiKey("agent-a", [`team-a:${ALL}`]);
const keyB = newApiKey("agent-b", [`team-b:${ALL}`]);
const keyReadOnlyA = newApiKey("reader-a", ["team-a:read"]);
const keyBoth = newApiKey("reader-ab", ["team-a:read", "team-b:read"]);
const keyAdmin = newApiKey("ops", ["*:admin"]);

let server: DcsmServer;
let rsaPrivate: CryptoKey;

interface Clients {
  glm: Client<typeof GlobalLongTermMemoryService>;
  swm: Client<typeof SharedWorkingMemoryService>;
  kps: Client<typeof KnowledgeProcessorService>;
}
function clients(transport: Transport): Clients {
  return {
    glm: createClient(GlobalLongTermMemoryService, transport),
    swm: createClient(SharedWorkingMemoryService, transport),
    kps: createClient(KnowledgeProcessorService, transport),
  };
}
function connectAs(token?: string): Clients {
  return clients(
    createConnectTransport({
      baseUrl: server.httpUrl,
      httpVersion: "1.1",
      interceptors: token ? [bearerAuth(token)] : [],
    }),
  );
}
function hmacJwt(claims: Record<string, unknown>, expiresIn = "5m", secret = JWT_SECRET): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: "HS256" })
    .setSubject(String(claims.sub ?? "jwt-agent"))
    .setIssuedAt()
    .setExpirationTime(expiresIn)
    .sign(new TextEncoder().encode(secret));
}

beforeAll(async () => {
  const dir = tempDir("dcsm-auth-");
  const keysFile = join(dir, "keys.json");
  writeFileSync(
    keysFile,
    JSON.stringify({ keys: [keyA.entry, keyB.entry, keyReadOnlyA.entry, keyBoth.entry, keyAdmin.entry] }),
  );
  const pair = await generateKeyPair("RS256");
  rsaPrivate = pair.privateKey;
  const pubFile = join(dir, "jwt-rs256.pem");
  writeFileSync(pubFile, await exportSPKI(pair.publicKey));
  server = await startTestServer({ apiKeysFile: keysFile, jwtSecret: JWT_SECRET, jwtPublicKeyFile: pubFile });
});
afterAll(async () => {
  await server?.close();
  removeTempDirs();
});

describe("authentication", () => {
  test("keys file holds hashes only; calls without or with a wrong key are Unauthenticated on Connect, gRPC-Web and gRPC", async () => {
    expect(JSON.stringify(keyA.entry)).not.toContain(keyA.key);
    expect(keyA.entry.sha256).toMatch(/^[0-9a-f]{64}$/);
    const transports = (token?: string) => [
      createConnectTransport({
        baseUrl: server.httpUrl,
        httpVersion: "1.1",
        interceptors: token ? [bearerAuth(token)] : [],
      }),
      createGrpcWebTransport({
        baseUrl: server.httpUrl,
        httpVersion: "1.1",
        interceptors: token ? [bearerAuth(token)] : [],
      }),
      createGrpcTransport({ baseUrl: server.grpcUrl, interceptors: token ? [bearerAuth(token)] : [] }),
    ];
    for (const t of [...transports(), ...transports("dcsm_not-a-key")]) {
      const c = clients(t);
      expect(await codeOf(c.glm.retrieveKEMs({ query: {} }))).toBe(Code.Unauthenticated);
      expect(await codeOf(c.swm.querySWM({ query: {} }))).toBe(Code.Unauthenticated);
      expect(await codeOf(c.kps.processRawData({ rawContent: enc.encode("x") }))).toBe(Code.Unauthenticated);
    }
    for (const t of transports(keyA.key)) expect(await codeOf(clients(t).glm.retrieveKEMs({ query: {} }))).toBe("ok");
    // Health stays open for probes.
    const health = createClient(Health, createGrpcTransport({ baseUrl: server.grpcUrl }));
    expect((await health.check({})).status).toBe(1);
  });

  test("API keys also work as x-api-key; JWTs (HS256 and RS256) carry scopes; expired or forged JWTs are Unauthenticated", async () => {
    const viaHeader = clients(
      createConnectTransport({
        baseUrl: server.httpUrl,
        httpVersion: "1.1",
        interceptors: [
          (next) => (req) => {
            req.header.set("x-api-key", keyB.key);
            return next(req);
          },
        ],
      }),
    );
    expect(await codeOf(viaHeader.glm.retrieveKEMs({ query: {} }))).toBe("ok");

    const stored = await connectAs(keyA.key).glm.storeKEM({ kem: { content: enc.encode("jwt-visible") } });
    const hs = await hmacJwt({ sub: "jwt-reader", scopes: ["team-a:read"] });
    const got = await connectAs(hs).glm.retrieveKEMs({ query: { ids: [stored.kem!.id] } });
    expect(got.kems.map((k) => k.id)).toEqual([stored.kem!.id]);
    expect(await codeOf(connectAs(hs).glm.storeKEM({ kem: { content: enc.encode("no write right") } }))).toBe(
      Code.PermissionDenied,
    );

    const rs = await new SignJWT({ scope: "team-a:read team-b:write" })
      .setProtectedHeader({ alg: "RS256" })
      .setSubject("rs-agent")
      .setExpirationTime("5m")
      .sign(rsaPrivate);
    expect((await connectAs(rs).glm.retrieveKEMs({ query: { ids: [stored.kem!.id] } })).kems.length).toBe(1);

    expect(
      await codeOf(connectAs(await hmacJwt({ scopes: ["team-a:read"] }, "-1m")).glm.retrieveKEMs({ query: {} })),
    ).toBe(Code.Unauthenticated);
    expect(
      await codeOf(
        connectAs(
          await hmacJwt({ scopes: ["team-a:read"] }, "5m", "another secret that is thirty-two bytes long"),
        ).glm.retrieveKEMs({ query: {} }),
      ),
    ).toBe(Code.Unauthenticated);
    expect(await codeOf(connectAs(await hmacJwt({})).glm.retrieveKEMs({ query: {} }))).toBe(Code.Unauthenticated); // no scopes
    const none = `${Buffer.from('{"alg":"none"}').toString("base64url")}.${Buffer.from('{"sub":"x","scopes":["*:admin"]}').toString("base64url")}.`;
    expect(await codeOf(connectAs(none).glm.retrieveKEMs({ query: {} }))).toBe(Code.Unauthenticated);
  });

  test("/v1/embeddings needs a key; /metrics needs an admin key", async () => {
    const body = JSON.stringify({ input: "hello", model: "all-MiniLM-L6-v2" });
    const post = (headers: Record<string, string>) =>
      fetch(`${server.httpUrl}/v1/embeddings`, {
        method: "POST",
        body,
        headers: { "content-type": "application/json", ...headers },
      });
    expect((await post({})).status).toBe(401);
    expect((await post({ authorization: "Bearer dcsm_wrong" })).status).toBe(401);
    expect((await post({ authorization: `Bearer ${keyB.key}` })).status).toBe(200);
    expect((await fetch(`${server.httpUrl}/metrics`)).status).toBe(401);
    expect(
      (await fetch(`${server.httpUrl}/metrics`, { headers: { authorization: `Bearer ${keyB.key}` } })).status,
    ).toBe(403);
    expect([200, 404]).toContain(
      (await fetch(`${server.httpUrl}/metrics`, { headers: { authorization: `Bearer ${keyAdmin.key}` } })).status,
    );
  });
});

describe("namespace scopes: team-b cannot touch team-a's data", () => {
  test("GLM: reads by id, filter, vector and text see only the caller's namespace; update, delete and overwrite are denied", async () => {
    const a = connectAs(keyA.key);
    const b = connectAs(keyB.key);
    const secret = await a.glm.storeKEM({
      kem: {
        content: enc.encode("team-a quarterly launch plan for the orbital telescope"),
        metadata: { topic: "plan" },
      },
    });
    const kemA = secret.kem!;
    expect(kemA.metadata?.namespace).toBe("team-a"); // stamped from the key's default namespace
    await b.glm.storeKEM({ kem: { content: enc.encode("team-b notes about gardening"), metadata: { topic: "plan" } } });

    for (const c of [
      b,
      clients(createGrpcTransport({ baseUrl: server.grpcUrl, interceptors: [bearerAuth(keyB.key)] })),
    ]) {
      expect((await c.glm.retrieveKEMs({ query: { ids: [kemA.id] } })).kems).toEqual([]);
      const byTopic = await c.glm.retrieveKEMs({ query: { metadataFilters: { topic: str("plan") } } });
      expect(byTopic.kems.every((k) => k.metadata?.namespace === "team-b")).toBe(true);
      const byText = await c.glm.retrieveKEMs({ query: { textQuery: "orbital telescope launch plan" }, pageSize: 50 });
      expect(byText.kems.map((k) => k.id)).not.toContain(kemA.id);
      const byVector = await c.glm.retrieveKEMs({ query: { embeddingQuery: kemA.embeddings }, pageSize: 50 });
      expect(byVector.kems.map((k) => k.id)).not.toContain(kemA.id);
      expect(await codeOf(c.glm.retrieveKEMs({ query: { metadataFilters: { namespace: str("team-a") } } }))).toBe(
        Code.PermissionDenied,
      );
      // Another tenant's KEM is answered like an unknown id (tests/e2e/tenant-isolation.test.ts).
      expect(
        await codeOf(
          c.glm.updateKEM({
            kemId: kemA.id,
            kemDataUpdate: { content: enc.encode("hijacked") },
            updateMask: { paths: ["content"] },
          }),
        ),
      ).toBe(Code.NotFound);
      expect(await codeOf(c.glm.deleteKEM({ kemId: kemA.id }))).toBe(Code.NotFound);
      expect(await codeOf(c.glm.storeKEM({ kem: { id: kemA.id, content: enc.encode("overwrite by id") } }))).toBe(
        Code.PermissionDenied,
      );
      expect(
        await codeOf(
          c.glm.storeKEM({ kem: { content: enc.encode("into a's namespace"), metadata: { namespace: "team-a" } } }),
        ),
      ).toBe(Code.PermissionDenied);
    }
    // A batch with one foreign id: that item is denied, the other stored.
    const batch = await b.glm.batchStoreKEMs({
      kems: [{ id: kemA.id, content: enc.encode("x") }, { content: enc.encode("team-b batch item") }],
    });
    expect(batch.results.map((r) => r.outcome.case)).toEqual(["error", "kem"]);
    expect(batch.results[0]!.outcome.case === "error" && batch.results[0]!.outcome.value.code).toBe(
      "permission_denied",
    );
    // Moving one's own KEM into another namespace is denied; REPLACE keeps the namespace.
    const own = batch.results[1]!.outcome.case === "kem" ? batch.results[1]!.outcome.value : undefined;
    expect(
      await codeOf(
        b.glm.updateKEM({
          kemId: own!.id,
          kemDataUpdate: { metadata: { namespace: "team-a" } },
          updateMask: { paths: ["metadata"] },
        }),
      ),
    ).toBe(Code.PermissionDenied);
    const replaced = await b.glm.updateKEM({
      kemId: own!.id,
      kemDataUpdate: { metadata: { note: "replaced" } },
      updateMask: { paths: ["metadata"] },
      metadataMode: 2,
    });
    expect(replaced.kem?.metadata).toEqual({ note: "replaced", namespace: "team-b" });
    // team-a's KEM is untouched.
    const after = await a.glm.retrieveKEMs({ query: { ids: [kemA.id] } });
    expect(dec.decode(after.kems[0]!.content)).toBe("team-a quarterly launch plan for the orbital telescope");
  });

  test("rights are enforced per namespace; a multi-namespace reader must pin one", async () => {
    expect(await codeOf(connectAs(keyReadOnlyA.key).glm.storeKEM({ kem: { content: enc.encode("read-only") } }))).toBe(
      Code.PermissionDenied,
    );
    expect(
      await codeOf(
        connectAs(keyReadOnlyA.key).swm.publishKEMToSWM({ kemToPublish: { content: enc.encode("read-only") } }),
      ),
    ).toBe(Code.PermissionDenied);
    const both = connectAs(keyBoth.key);
    expect(await codeOf(both.glm.retrieveKEMs({ query: {} }))).toBe(Code.InvalidArgument);
    const pinned = await both.glm.retrieveKEMs({ query: { metadataFilters: { namespace: str("team-b") } } });
    expect(pinned.kems.length).toBeGreaterThan(0);
    expect(pinned.kems.every((k) => k.metadata?.namespace === "team-b")).toBe(true);
  });

  test("SWM: query, publish-by-id, load and event streams stay within the namespace", async () => {
    const a = connectAs(keyA.key);
    const b = connectAs(keyB.key);
    const ac = new AbortController();
    const seenByB: string[] = [];
    let subscribed = false;
    const reading = (async () => {
      try {
        for await (const e of b.swm.subscribeToSWMEvents({ agentId: "b" }, { signal: ac.signal })) {
          if (e.details === "subscribed") subscribed = true;
          if (e.eventType !== EventType.HEARTBEAT)
            seenByB.push(`${e.eventType}:${e.kemPayload?.metadata?.namespace}:${e.kemPayload?.id}`);
        }
      } catch (err) {
        if (ConnectError.from(err).code !== Code.Canceled) throw err;
      }
    })();
    await waitFor(() => subscribed, { what: "b's subscribed event" });
    const pa = await a.swm.publishKEMToSWM({
      kemToPublish: { content: enc.encode("a's hot fact"), metadata: { topic: "hot" } },
      agentId: "a",
    });
    const pb = await b.swm.publishKEMToSWM({
      kemToPublish: { content: enc.encode("b's hot fact"), metadata: { topic: "hot" } },
      agentId: "b",
    });
    const hot = await b.swm.querySWM({ query: { metadataFilters: { topic: str("hot") } } });
    expect(hot.kems.map((k) => k.id)).toEqual([pb.kemId]);
    expect((await b.swm.querySWM({ query: { ids: [pa.kemId] } })).kems).toEqual([]);
    expect(
      await codeOf(b.swm.publishKEMToSWM({ kemToPublish: { id: pa.kemId, content: enc.encode("taken over") } })),
    ).toBe(Code.PermissionDenied);
    // LoadKEMsFromGLM as team-b loads team-b's KEMs only.
    const loaded = await b.swm.loadKEMsFromGLM({ queryForGlm: {}, limit: 100 });
    expect(loaded.loadedKemsCount).toBeGreaterThan(0);
    const inSwm = await a.swm.querySWM({ query: { ids: loaded.loadedKemIds } });
    expect(inSwm.kems).toEqual([]);
    // Events arrive in order: once b's own publish is in, a's (published first) would be too.
    await waitFor(() => seenByB.includes(`${EventType.KEM_PUBLISHED}:team-b:${pb.kemId}`), {
      what: "b's own KEM_PUBLISHED",
    });
    ac.abort();
    await reading;
    expect(seenByB).toContain(`${EventType.KEM_PUBLISHED}:team-b:${pb.kemId}`);
    expect(seenByB.some((s) => s.includes(pa.kemId) || s.includes(":team-a:"))).toBe(false);
  });

  test("locks and counters are namespaced by the `<namespace>/` prefix", async () => {
    const b = connectAs(keyB.key);
    expect(await codeOf(b.swm.acquireLock({ resourceId: "team-a/deploy", agentId: "b" }))).toBe(Code.PermissionDenied);
    expect(await codeOf(b.swm.acquireLock({ resourceId: "deploy", agentId: "b" }))).toBe(Code.PermissionDenied);
    expect(await codeOf(b.swm.getLockInfo({ resourceId: "team-a/deploy" }))).toBe(Code.PermissionDenied);
    expect(await codeOf(b.swm.releaseLock({ resourceId: "team-a/deploy", agentId: "b", lockId: "x" }))).toBe(
      Code.PermissionDenied,
    );
    expect(await codeOf(b.swm.incrementCounter({ counterId: "team-a/builds" }))).toBe(Code.PermissionDenied);
    expect(await codeOf(b.swm.getCounter({ counterId: "team-a/builds" }))).toBe(Code.PermissionDenied);
    const lock = await b.swm.acquireLock({ resourceId: "team-b/deploy", agentId: "b" });
    expect(lock.lockId).not.toBe("");
    expect((await b.swm.incrementCounter({ counterId: "team-b/builds" })).currentValue).toBe(1n);
    expect((await connectAs(keyReadOnlyA.key).swm.getLockInfo({ resourceId: "team-a/deploy" })).isLocked).toBe(false);
  });

  test("KPS: two tenants ingesting the same path get separate KEMs", async () => {
    const a = connectAs(keyA.key);
    const b = connectAs(keyB.key);
    const ra = await a.kps.processRawData({
      sourcePath: "docs/shared.md",
      rawContent: enc.encode("# Plan\nteam-a's private roadmap"),
    });
    const rb = await b.kps.processRawData({
      sourcePath: "docs/shared.md",
      rawContent: enc.encode("# Plan\nteam-b's roadmap"),
    });
    expect(ra.kemIds.some((id) => rb.kemIds.includes(id))).toBe(false);
    expect(rb.chunksRemoved).toBe(0); // team-b's ingest did not see (or remove) team-a's chunks
    const aView = await a.glm.retrieveKEMs({ query: { metadataFilters: { source_path: str("docs/shared.md") } } });
    expect(aView.kems.map((k) => dec.decode(k.content)).join()).toContain("team-a's private roadmap");
    expect(aView.kems.map((k) => dec.decode(k.content)).join()).not.toContain("team-b");
    expect(
      await codeOf(
        b.kps.processRawData({
          sourcePath: "x.md",
          rawContent: enc.encode("x"),
          initialMetadata: { namespace: "team-a" },
        }),
      ),
    ).toBe(Code.PermissionDenied);
  });
});

describe("dcsm serve without authentication", () => {
  test("refuses a non-loopback bind unless insecure", async () => {
    const base = {
      httpPort: 0,
      grpcPort: 0,
      dataDir: tempDir("dcsm-noauth-"),
      logLevel: "warn",
      modelOffline: true,
      warmup: "off",
    };
    await expect(
      startDcsmServer(loadConfig({}, { ...base, host: "0.0.0.0" }), { embedder: await testEmbedder() }),
    ).rejects.toThrow(/without authentication/);
    const open = await startDcsmServer(loadConfig({}, { ...base, host: "0.0.0.0", insecure: true }), {
      embedder: await testEmbedder(),
    });
    try {
      expect(open.httpUrl).toContain("0.0.0.0");
    } finally {
      await open.close();
    }
  });
});
