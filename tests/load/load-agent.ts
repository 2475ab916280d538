/**
 * One load-test agent: its own connection (an HTTP/2 session for gRPC, a keep-alive
 * `http.Agent` of its own for Connect and gRPC-Web over HTTP/1.1), a closed loop of publish
 * (some persisted to GLM), QuerySWM, and GLM vector and text search, and optionally one
 * SubscribeToSWMEvents stream whose events it counts. How calls are made is its {@link CallPolicy}:
 * in the closed loop back-pressure codes (`ResourceExhausted`, `Unavailable`) are retried with a
 * jittered back-off and counted apart from real errors; in the overload phase each call is made
 * once with a deadline and a refusal is recorded with its latency.
 * @module
 */
import { Agent as HttpAgent } from "node:http";
import { type Client, Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
  Http2SessionManager,
} from "@connectrpc/connect-node";
import { GlobalLongTermMemoryService } from "../../sdk/gen/dcsm/v1/glm_service_pb.ts";
import { EventType, SharedWorkingMemoryService } from "../../sdk/gen/dcsm/v1/swm_service_pb.ts";
import { type CallPolicy, isBackpressure } from "./call-policy.ts";
import type { LoadMix, LoadOp, LoadProtocol } from "./load-mix.ts";

export * from "./call-policy.ts";
export * from "./load-mix.ts";

/** Options of {@link LoadAgent}. */
export interface LoadAgentOptions {
  /** Agent number (0-based); its id is `a<index>`. */
  index: number;
  /** Wire protocol. */
  protocol: LoadProtocol;
  /** Connect / gRPC-Web listener. */
  httpUrl: string;
  /** gRPC (h2c) listener. */
  grpcUrl: string;
  /** Run id: prefix of KEM ids and value of the `run` metadata key. */
  run: string;
  /** Publish groups (`group` metadata values are `<run>-g<k>`, k < groups). */
  groups: number;
  /** Embedding dimension of the server. */
  dimension: number;
  /** Operation mix. */
  mix: LoadMix;
  /** How calls are made and where their outcomes go (replaceable per phase, see {@link LoadAgent.policy}). */
  policy: CallPolicy;
  /** Pause between operations, ms. @default 0 */
  thinkMs?: number;
}

/** A published KEM as acknowledged to the agent. */
export interface AckedKem {
  /** KEM id. */
  id: string;
  /** `group` metadata value. */
  group: string;
  /** Published with persist_to_glm_if_new_or_updated. */
  persist: boolean;
  /** When the acknowledgement arrived, `performance.now()` ms of the load process. */
  ackedAt: number;
  /** Phase of the publish ({@link CallPolicy.phase}). */
  phase: string;
}

const WORDS =
  "agent memory lock vector index query store kem embedding chunk token window cache batch queue server client request response error retry timeout shard replica schema table commit rollback plan goal tool observation reflection summary context".split(
    " ",
  );
const enc = new TextEncoder();

/** A random vector of `dim` components in [-1, 1) (the server normalises). */
export function randomVector(dim: number): number[] {
  const v = new Array<number>(dim);
  for (let i = 0; i < dim; i++) v[i] = Math.random() * 2 - 1;
  return v;
}

/** A load-test agent. Call {@link LoadAgent.subscribe} (optional), then {@link LoadAgent.run}, then {@link LoadAgent.close}. */
export class LoadAgent {
  /** Agent id, `a<index>`. */
  readonly id: string;
  /** Publishes acknowledged by the server. */
  readonly acked: AckedKem[] = [];
  /** Ids whose publish ended in an error after being sent (may or may not be stored). */
  readonly uncertain = new Set<string>();
  /** How calls are made now (set a new one between phases). */
  policy: CallPolicy;
  /** Up to 10 distinct error messages seen (for the report). */
  readonly errorSamples: string[] = [];
  /** QuerySWM by ids of this agent's own acknowledged publishes that missed one of them. */
  readOwnWritesMissing = 0;
  /** Subscription state (when subscribed). */
  readonly sub = {
    group: "",
    connections: 0,
    ready: false,
    published: new Map<string, number>(),
    updated: 0,
    other: 0,
    reloadRequired: 0,
    overflows: 0,
    failed: 0,
    lastSequence: undefined as bigint | undefined,
    receivedAt: new Map<string, number>(),
  };
  private readonly swm: Client<typeof SharedWorkingMemoryService>;
  private readonly glm: Client<typeof GlobalLongTermMemoryService>;
  private readonly httpAgent?: HttpAgent;
  private readonly h2?: Http2SessionManager;
  private readonly subAbort = new AbortController();
  private subDone: Promise<void> = Promise.resolve();
  private seq = 0;

  /** Builds the agent and its own connection (opened lazily by the first call). */
  constructor(private readonly o: LoadAgentOptions) {
    this.id = `a${o.index}`;
    this.policy = o.policy;
    let transport: Transport;
    if (o.protocol === "grpc") {
      this.h2 = new Http2SessionManager(o.grpcUrl);
      transport = createGrpcTransport({ baseUrl: o.grpcUrl, sessionManager: this.h2 });
    } else {
      // One keep-alive pool per agent: its calls reuse its own sockets, never another agent's.
      this.httpAgent = new HttpAgent({ keepAlive: true });
      const base = {
        baseUrl: o.httpUrl,
        httpVersion: "1.1" as const,
        useBinaryFormat: true,
        nodeOptions: { agent: this.httpAgent },
      };
      transport = o.protocol === "connect" ? createConnectTransport(base) : createGrpcWebTransport(base);
    }
    this.swm = createClient(SharedWorkingMemoryService, transport);
    this.glm = createClient(GlobalLongTermMemoryService, transport);
  }

  private count(key: string, err: unknown, policy = this.policy): "backpressure" | "failed" {
    const e = ConnectError.from(err);
    const kind = isBackpressure(e) ? "backpressure" : "failed";
    let counts = policy.errors[key];
    if (!counts) {
      counts = { backpressure: 0, failed: 0 };
      policy.errors[key] = counts;
    }
    counts[kind]++;
    const msg = `${key}: ${Code[e.code]}: ${e.rawMessage.slice(0, 160)}`;
    if (this.errorSamples.length < 10 && !this.errorSamples.includes(msg)) this.errorSamples.push(msg);
    if (kind === "failed" && policy.failureSamples.length < 10 && !policy.failureSamples.includes(msg))
      policy.failureSamples.push(msg);
    return kind;
  }

  /**
   * Runs `call` under the current policy (deadline, back-pressure retries); records the successful
   * attempt's latency, or each refusal's.
   * @returns the response, or undefined when the call failed or stayed refused; `maybeApplied` is
   *   false only when every attempt was refused with `ResourceExhausted` (admission refuses before
   *   reading the request, so nothing was applied).
   */
  private async timed<T>(
    op: LoadOp,
    call: (options: { timeoutMs: number }) => Promise<T>,
  ): Promise<{ value?: T; maybeApplied: boolean }> {
    const key = `${op}/${this.o.protocol}`;
    const policy = this.policy;
    let maybeApplied = false;
    for (let attempt = 0; ; attempt++) {
      const t0 = performance.now();
      try {
        const r = await call({ timeoutMs: policy.timeoutMs });
        policy.book.add(key, performance.now() - t0);
        return { value: r, maybeApplied: true };
      } catch (err) {
        const ms = performance.now() - t0;
        if (ConnectError.from(err).code !== Code.ResourceExhausted) maybeApplied = true;
        if (this.count(key, err, policy) === "failed") return { maybeApplied };
        policy.refusals.add(key, ms);
        if (attempt >= policy.retries) return { maybeApplied };
        await Bun.sleep(Math.min(1000, 25 * 2 ** attempt) * (0.5 + Math.random()));
      }
    }
  }

  /**
   * Opens the event stream for `group` and resolves once the server registered it (its first
   * "subscribed" HEARTBEAT). Reconnects with `resume_after_sequence` after a back-pressure drop.
   */
  subscribe(group: string): Promise<void> {
    this.sub.group = group;
    let markReady!: () => void;
    const ready = new Promise<void>((r) => (markReady = r));
    const signal = this.subAbort.signal;
    this.subDone = (async () => {
      while (!signal.aborted) {
        this.sub.connections++;
        try {
          const stream = this.swm.subscribeToSWMEvents(
            {
              agentId: this.id,
              topics: [{ filterCriteria: `metadata.group=${group}` }],
              resumeAfterSequence: this.sub.lastSequence,
            },
            { signal },
          );
          for await (const e of stream) {
            if (e.eventType === EventType.HEARTBEAT) {
              if (!this.sub.ready) {
                this.sub.ready = true;
                markReady();
              }
              continue;
            }
            if (e.eventType === EventType.RELOAD_REQUIRED) {
              this.sub.reloadRequired++;
              continue;
            }
            this.sub.lastSequence = e.sequence;
            if (e.eventType === EventType.KEM_PUBLISHED) {
              const id = e.kemPayload?.id ?? "";
              this.sub.published.set(id, (this.sub.published.get(id) ?? 0) + 1);
              if (!this.sub.receivedAt.has(id)) this.sub.receivedAt.set(id, performance.now());
            } else if (e.eventType === EventType.KEM_UPDATED) this.sub.updated++;
            else this.sub.other++;
          }
          if (!signal.aborted) this.sub.failed++; // the server ended the stream
        } catch (err) {
          if (signal.aborted) break;
          if (isBackpressure(err)) this.sub.overflows++;
          else this.sub.failed++;
          const msg = `subscribe/${this.o.protocol}: ${Code[ConnectError.from(err).code]}: ${ConnectError.from(err).rawMessage.slice(0, 160)}`;
          if (this.errorSamples.length < 10 && !this.errorSamples.includes(msg)) this.errorSamples.push(msg);
          await Bun.sleep(50 + Math.random() * 100);
        }
      }
      markReady();
    })();
    return ready;
  }

  private pickGroup(): string {
    return `${this.o.run}-g${Math.floor(Math.random() * this.o.groups)}`;
  }

  private words(n: number): string {
    return Array.from({ length: n }, () => WORDS[Math.floor(Math.random() * WORDS.length)]).join(" ");
  }

  private async publish(): Promise<void> {
    const persist = Math.random() < this.o.mix.persistShare;
    const id = `${this.o.run}-${this.id}-${this.seq++}`;
    const group = this.pickGroup();
    const phase = this.policy.phase;
    const { value: res, maybeApplied } = await this.timed(persist ? "publish+persist" : "publish", (t) =>
      this.swm.publishKEMToSWM(
        {
          kemToPublish: {
            id,
            contentType: "text/plain",
            content: enc.encode(`${this.id} note ${this.seq}: ${this.words(12)}`),
            metadata: { run: this.o.run, agent: this.id, group, seq: this.seq },
            embeddings: persist ? randomVector(this.o.dimension) : [],
          },
          persistToGlmIfNewOrUpdated: persist,
          agentId: this.id,
        },
        t,
      ),
    );
    if (res && res.kemId === id && res.publishedToSwm && res.queuedForGlmPersistence === persist)
      this.acked.push({ id, group, persist, ackedAt: performance.now(), phase });
    else if (res) {
      this.count(
        `${persist ? "publish+persist" : "publish"}/${this.o.protocol}`,
        new ConnectError(
          `unexpected response ${res.kemId} ${res.publishedToSwm} ${res.queuedForGlmPersistence}`,
          Code.Internal,
        ),
      );
      this.uncertain.add(id);
    } else if (maybeApplied) this.uncertain.add(id);
  }

  private async query(): Promise<void> {
    const r = Math.random();
    if (r < 0.4 && this.acked.length > 0) {
      // Read your own writes: the last few acknowledged publishes must all be there.
      const ids = this.acked.slice(-5).map((k) => k.id);
      const { value: res } = await this.timed("query.ids", (t) =>
        this.swm.querySWM({ query: { ids }, pageSize: ids.length }, t),
      );
      if (res && res.kems.length !== ids.length) this.readOwnWritesMissing++;
      return;
    }
    // By this agent's own KEMs (a small index set) or by a group (an eighth of all KEMs).
    const [op, key, value] =
      r < 0.7 ? (["query.agent", "agent", this.id] as const) : (["query.group", "group", this.pickGroup()] as const);
    const md = { [key]: { kind: { case: "stringValue" as const, value } } };
    await this.timed(op, (t) => this.swm.querySWM({ query: { metadataFilters: md }, pageSize: 20 }, t));
  }

  private async vectorSearch(): Promise<void> {
    const v = randomVector(this.o.dimension);
    await this.timed("search.vector", (t) => this.glm.retrieveKEMs({ query: { embeddingQuery: v }, pageSize: 10 }, t));
  }

  private async textSearch(): Promise<void> {
    const text = this.words(3 + Math.floor(Math.random() * 4));
    await this.timed("search.text", (t) => this.glm.retrieveKEMs({ query: { textQuery: text }, pageSize: 10 }, t));
  }

  /** One operation picked by the mix, under the current policy (several may run at once). */
  step(): Promise<void> {
    const m = this.o.mix;
    const x = Math.random() * (m.publish + m.query + m.vector + m.text);
    if (x < m.publish) return this.publish();
    if (x < m.publish + m.query) return this.query();
    if (x < m.publish + m.query + m.vector) return this.vectorSearch();
    return this.textSearch();
  }

  /** Runs operations in a closed loop until `stop` aborts (the current call finishes first). */
  async run(stop: AbortSignal): Promise<void> {
    while (!stop.aborted) {
      await this.step();
      if (this.o.thinkMs) await Bun.sleep(this.o.thinkMs * (0.5 + Math.random()));
    }
  }

  /** Ends the event stream (if any). */
  async unsubscribe(): Promise<void> {
    this.subAbort.abort();
    await this.subDone;
  }

  /** Closes the agent's connection. */
  async close(): Promise<void> {
    await this.unsubscribe();
    this.h2?.abort();
    this.httpAgent?.destroy();
  }
}
