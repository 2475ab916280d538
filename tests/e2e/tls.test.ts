/**
 * TLS end to end: a real server with DCSM_TLS_CERT/DCSM_TLS_KEY (a self-signed
 * certificate made by openssl at test time) serves every protocol on ONE port: ALPN gives `h2` or
 * `http/1.1`; gRPC, Connect and gRPC-Web work over HTTP/2 and Connect and gRPC-Web over HTTP/1.1;
 * /health, /v1/embeddings, the console and CORS work over HTTPS on both versions; plaintext and
 * clients that do not trust the certificate are refused.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type ClientHttp2Session, connect as h2connect } from "node:http2";
import { join } from "node:path";
import { connect as tlsConnect } from "node:tls";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { REPO_ROOT } from "../../runtime/config.ts";
import { GlobalLongTermMemoryService } from "../../sdk/gen/dcsm/v1/glm_service_pb.ts";
import { EventType, SharedWorkingMemoryService } from "../../sdk/gen/dcsm/v1/swm_service_pb.ts";
import { Health, HealthCheckResponse_ServingStatus } from "../../sdk/gen/grpc/health/v1/health_pb.ts";
import { createNodeTransport } from "../../sdk/server.ts";
import { startTestServer } from "../helpers/server.ts";
import { removeTempDirs, tempDir } from "../helpers/temp-dir.ts";
import { makeSelfSignedCert, type TestCert } from "../helpers/tls-cert.ts";
import { waitFor } from "../helpers/wait-for.ts";

let server: Awaited<ReturnType<typeof startTestServer>>;
let cert: TestCert;
let port: number;

beforeAll(async () => {
  cert = makeSelfSignedCert(tempDir("dcsm-tls-cert-"));
  server = await startTestServer({ tlsCert: cert.certPath, tlsKey: cert.keyPath });
  port = Number(new URL(server.httpUrl).port);
});
afterAll(async () => {
  await server?.close();
  removeTempDirs();
});

/** ALPN result of a TLS handshake offering `protocols`. */
function negotiate(protocols: string[]): Promise<string | false> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect(
      { host: "127.0.0.1", port, servername: "localhost", ca: cert.cert, ALPNProtocols: protocols },
      () => {
        resolve(s.alpnProtocol ?? false);
        s.destroy();
      },
    );
    s.once("error", reject);
  });
}

/** One HTTP/2 request on its own session. */
async function h2get(
  path: string,
  headers: Record<string, string> = {},
  method = "GET",
  body?: string,
): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  const session: ClientHttp2Session = h2connect(server.httpUrl, { ca: cert.cert });
  try {
    return await new Promise((resolve, reject) => {
      const req = session.request({ ":method": method, ":path": path, ...headers });
      let status = 0;
      let head: Record<string, unknown> = {};
      let data = "";
      req.on("response", (h) => {
        status = Number(h[":status"]);
        head = h;
      });
      req.setEncoding("utf8");
      req.on("data", (c: string) => (data += c));
      req.on("end", () => resolve({ status, headers: head, body: data }));
      req.on("error", reject);
      req.end(body);
    });
  } finally {
    session.close();
  }
}

test("the server reports one https URL for every protocol", () => {
  expect(server.httpUrl).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
  expect(server.grpcUrl).toBe(server.httpUrl);
});

test("ALPN on the one port negotiates h2 and http/1.1", async () => {
  expect(await negotiate(["h2"])).toBe("h2");
  expect(await negotiate(["http/1.1"])).toBe("http/1.1");
  expect(await negotiate(["h2", "http/1.1"])).toBe("h2");
});

const transports: [string, () => Transport][] = [
  ["gRPC (h2)", () => createGrpcTransport({ baseUrl: server.grpcUrl, nodeOptions: { ca: cert.cert } })],
  [
    "Connect JSON over HTTP/1.1",
    () => createConnectTransport({ baseUrl: server.httpUrl, httpVersion: "1.1", nodeOptions: { ca: cert.cert } }),
  ],
  [
    "Connect binary over HTTP/2",
    () =>
      createConnectTransport({
        baseUrl: server.httpUrl,
        httpVersion: "2",
        useBinaryFormat: true,
        nodeOptions: { ca: cert.cert },
      }),
  ],
  [
    "gRPC-Web over HTTP/1.1",
    () => createGrpcWebTransport({ baseUrl: server.httpUrl, httpVersion: "1.1", nodeOptions: { ca: cert.cert } }),
  ],
  [
    "gRPC-Web over HTTP/2",
    () => createGrpcWebTransport({ baseUrl: server.httpUrl, httpVersion: "2", nodeOptions: { ca: cert.cert } }),
  ],
  [
    "SDK createNodeTransport (grpc, ca)",
    () => createNodeTransport({ baseUrl: server.grpcUrl, protocol: "grpc", ca: cert.cert }),
  ],
  [
    "SDK createNodeTransport (connect, ca), as the CLI uses it",
    () => createNodeTransport({ baseUrl: server.httpUrl, protocol: "connect", ca: cert.cert }),
  ],
];

describe.each(transports)("%s on the TLS port", (_name, make) => {
  test("store, retrieve by vector, delete, error code, health", async () => {
    const transport = make();
    const glm = createClient(GlobalLongTermMemoryService, transport);
    const vec = Array.from({ length: 384 }, (_, i) => Math.cos(i * 0.37 + _name.length));
    const { kem } = await glm.storeKEM({
      kem: { content: new TextEncoder().encode(`over ${_name}`), metadata: { via: _name }, embeddings: vec },
    });
    const hits = await glm.retrieveKEMs({ query: { embeddingQuery: vec }, pageSize: 1 });
    expect(hits.kems[0]!.id).toBe(kem!.id);
    expect(hits.kems[0]!.metadata).toEqual({ via: _name });
    await glm.deleteKEM({ kemId: kem!.id });
    // Not `expect(promise).rejects`: under it Bun's HTTP/2 client turned this trailers-only NotFound into CANCEL
    // (h2c too; README: oven-sh/bun#14249), and left a "Premature close" behind.
    const gone = await glm.deleteKEM({ kemId: kem!.id }).catch((e: unknown) => ConnectError.from(e));
    expect(gone).toMatchObject({ code: Code.NotFound });
    const health = createClient(Health, transport);
    expect((await health.check({ service: "" })).status).toBe(HealthCheckResponse_ServingStatus.SERVING);
  });

  test("server streaming: an SWM event arrives", async () => {
    const transport = make();
    const swm = createClient(SharedWorkingMemoryService, transport);
    const tag = `tls-${crypto.randomUUID()}`;
    const ac = new AbortController();
    const got: EventType[] = [];
    let subscribed = false;
    const reading = (async () => {
      try {
        for await (const e of swm.subscribeToSWMEvents(
          { topics: [{ filterCriteria: `metadata.topic=${tag}` }] },
          { signal: ac.signal },
        )) {
          if (e.eventType === EventType.HEARTBEAT) {
            subscribed ||= e.details === "subscribed";
            continue;
          }
          got.push(e.eventType);
          ac.abort();
        }
      } catch (err) {
        if (!(err instanceof ConnectError && err.code === Code.Canceled)) throw err;
      }
    })();
    await waitFor(() => subscribed, { what: "the stream's subscribed event" });
    await swm.publishKEMToSWM({
      kemToPublish: { content: new TextEncoder().encode("hot"), metadata: { topic: tag } },
      agentId: "tls",
    });
    const timer = setTimeout(() => ac.abort(), 5000);
    await reading;
    clearTimeout(timer);
    expect(got).toEqual([EventType.KEM_PUBLISHED]);
  });
});

test("@grpc/grpc-js with TLS credentials (an independent gRPC client)", async () => {
  const defs = protoLoader.loadSync(["grpc/health/v1/health.proto"], {
    includeDirs: [join(REPO_ROOT, "proto")],
    enums: String,
  });
  const pkg = grpc.loadPackageDefinition(defs) as unknown as {
    grpc: {
      health: {
        v1: {
          Health: new (
            addr: string,
            creds: grpc.ChannelCredentials,
          ) => grpc.Client & {
            Check: (req: { service: string }, cb: (err: Error | null, r: { status: string }) => void) => void;
          };
        };
      };
    };
  };
  const client = new pkg.grpc.health.v1.Health(`localhost:${port}`, grpc.credentials.createSsl(Buffer.from(cert.cert)));
  try {
    const res = await new Promise<{ status: string }>((resolve, reject) =>
      client.Check({ service: "" }, (err: Error | null, r: { status: string }) => (err ? reject(err) : resolve(r))),
    );
    expect(res.status).toBe("SERVING");
  } finally {
    client.close();
  }
});

describe("non-RPC routes over HTTPS", () => {
  test("/health over HTTP/1.1 (fetch) and HTTP/2", async () => {
    const r1 = await fetch(`${server.httpUrl}/health`, { tls: { ca: cert.cert } });
    expect(r1.status).toBe(200);
    expect((await r1.json()).status).toBe("ok");
    const r2 = await h2get("/health");
    expect(r2.status).toBe(200);
    expect(JSON.parse(r2.body).status).toBe("ok");
  });

  test("/v1/embeddings takes a POST body over both versions", async () => {
    const body = JSON.stringify({ model: "all-MiniLM-L6-v2", input: ["hello over tls"] });
    const r1 = await fetch(`${server.httpUrl}/v1/embeddings`, {
      method: "POST",
      body,
      headers: { "content-type": "application/json" },
      tls: { ca: cert.cert },
    });
    expect(r1.status).toBe(200);
    const v1 = (await r1.json()).data[0].embedding as number[];
    expect(v1.length).toBe(384);
    const r2 = await h2get("/v1/embeddings", { "content-type": "application/json" }, "POST", body);
    expect(r2.status).toBe(200);
    expect(JSON.parse(r2.body).data[0].embedding).toEqual(v1);
  });

  test("the web console page and its script load", async () => {
    const page = await fetch(`${server.httpUrl}/`, { tls: { ca: cert.cert } });
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toContain("text/html");
    const html = await page.text();
    const script = /<script[^>]+src="([^"]+)"/.exec(html)?.[1];
    expect(script).toBeTruthy();
    const js = await h2get(new URL(script!, server.httpUrl).pathname);
    expect(js.status).toBe(200);
    expect(js.body.length).toBeGreaterThan(1000);
  });

  test("CORS: preflight answered, RPC answers carry Access-Control-Allow-Origin", async () => {
    const path = `/${Health.typeName}/Check`;
    const pre = await fetch(`${server.httpUrl}${path}`, {
      method: "OPTIONS",
      headers: {
        origin: "https://app.example",
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type,connect-protocol-version",
      },
      tls: { ca: cert.cert },
    });
    expect(pre.status).toBe(204);
    expect(pre.headers.get("access-control-allow-origin")).toBe("*");
    expect(pre.headers.get("access-control-allow-methods")).toContain("POST");
    const rpc = await fetch(`${server.httpUrl}${path}`, {
      method: "POST",
      headers: { origin: "https://app.example", "content-type": "application/json", "connect-protocol-version": "1" },
      body: "{}",
      tls: { ca: cert.cert },
    });
    expect(rpc.status).toBe(200);
    expect(await rpc.json()).toEqual({ status: "SERVING" });
    expect(rpc.headers.get("access-control-allow-origin")).toBe("*");
    expect(rpc.headers.get("access-control-expose-headers")).toContain("Grpc-Status");
  });
});

describe("refused", () => {
  test("plaintext HTTP/1.1 and h2c to the TLS port fail", async () => {
    const plainUrl = server.httpUrl.replace("https://", "http://");
    await expect(fetch(`${plainUrl}/health`, { signal: AbortSignal.timeout(5000) })).rejects.toThrow();
    const h2c = createClient(Health, createGrpcTransport({ baseUrl: plainUrl }));
    await expect(h2c.check({ service: "" }, { timeoutMs: 5000 })).rejects.toBeInstanceOf(ConnectError);
  });

  test("a client without the CA gets a certificate error", async () => {
    const tlsErr = await new Promise<NodeJS.ErrnoException>((resolve) => {
      const s = tlsConnect({ host: "127.0.0.1", port, servername: "localhost", ALPNProtocols: ["h2"] }, () => {
        s.destroy();
        resolve(new Error("handshake succeeded without the CA") as NodeJS.ErrnoException);
      });
      s.once("error", resolve);
    });
    expect(tlsErr.code).toMatch(/SELF_SIGNED|UNABLE_TO_VERIFY|CERT/);
    const fetchErr = (await fetch(`${server.httpUrl}/health`).catch((e: unknown) => e)) as { code?: string };
    expect(String(fetchErr.code)).toMatch(/SELF_SIGNED|UNABLE_TO_VERIFY|CERT/);
    for (const transport of [
      createGrpcTransport({ baseUrl: server.grpcUrl }),
      createConnectTransport({ baseUrl: server.httpUrl, httpVersion: "1.1" }),
    ]) {
      const err = await createClient(Health, transport)
        .check({ service: "" })
        .catch((e: unknown) => ConnectError.from(e));
      expect(err).toBeInstanceOf(ConnectError);
      expect((err as ConnectError).message).toMatch(/self[- ]signed|certificate/i);
    }
  });
});
