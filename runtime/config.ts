/**
 * DCSM configuration: one typed object built from `DCSM_*` environment variables and CLI flags,
 * validated with zod; nothing else reads the environment (docs/architecture.md "Code layout").
 * @module
 */
import { hostname } from "node:os";
import { resolve } from "node:path";
import { z } from "zod";
import { EMBEDDING_DEFAULTS, GLM_DEFAULTS, SWM_DEFAULTS } from "../services/common/defaults.ts";
import { DEFAULT_KEM_LIMITS, type KemLimits } from "../services/common/limits.ts";
import { DEFAULT_HYBRID, type HybridOptions, MAX_HYBRID_WINDOW } from "../services/glm/search/kem-search.ts";
import { DEFAULT_SWM_LIMITS } from "../services/swm/limits.ts";
import { checkTlsPair, pemFile } from "./tls-config.ts";

/** Repository root (where `models/` ships). */
export const REPO_ROOT = resolve(import.meta.dir, "..");

const port = z.coerce.number().int().min(0).max(65535);
const positiveInt = z.coerce.number().int().positive();
const bool = z.union([z.boolean(), z.string()]).transform((v, ctx) => {
  if (typeof v === "boolean") return v;
  const s = v.trim().toLowerCase();
  if (["1", "true", "yes", "on"].includes(s)) return true;
  if (["0", "false", "no", "off", ""].includes(s)) return false;
  ctx.addIssue({ code: "custom", message: `expected a boolean (1/0, true/false), got ${JSON.stringify(v)}` });
  return z.NEVER;
});

/** A comma-separated list (or an array, from overrides): items trimmed, empty ones dropped. */
const commaList = z
  .union([z.array(z.string()), z.string()])
  .transform((v) => (Array.isArray(v) ? v : v.split(",")).map((k) => k.trim()).filter((k) => k !== ""));

/** One configuration setting: its environment variable, and its schema (parsing, checks, default). */
interface Setting<S extends z.ZodType> {
  env: string;
  schema: S;
}

function setting<S extends z.ZodType>(env: string, schema: S): Setting<S> {
  return { env, schema };
}

/** Every setting of {@link DcsmConfig}, keyed by field: the one place each variable is named. */
const SETTINGS = {
  /** Interface both listeners bind to. @default "127.0.0.1" */
  host: setting("DCSM_HOST", z.string().min(1).default("127.0.0.1")),
  /** HTTP port for Connect and gRPC-Web; 0 picks a free port. @default 8080 */
  httpPort: setting("DCSM_HTTP_PORT", port.default(8080)),
  /** gRPC (h2c) port; 0 picks a free port. @default 50051 */
  grpcPort: setting("DCSM_GRPC_PORT", port.default(50051)),
  /** Data folder for the SQLite store. @default "./data" */
  dataDir: setting("DCSM_DATA_DIR", z.string().min(1).default("./data")),
  /** Embedding model id: a folder under `modelDir`, or a Hugging Face id. */
  model: setting("DCSM_MODEL", z.string().min(1).default("all-MiniLM-L6-v2")),
  /** Folder of local models. @default "<repo>/models" */
  modelDir: setting("DCSM_MODEL_DIR", z.string().min(1).default(resolve(REPO_ROOT, "models"))),
  /** ONNX weights variant. @default "q8" */
  modelDtype: setting("DCSM_MODEL_DTYPE", z.enum(["q8", "fp32", "fp16", "int8", "uint8", "q4"]).default("q8")),
  /** Never download models. @default false */
  modelOffline: setting("DCSM_MODEL_OFFLINE", bool.default(false)),
  /** Inputs per model call (why 16: see `EMBEDDING_DEFAULTS.batchSize`). @default 16 */
  embedBatchSize: setting("DCSM_EMBED_BATCH", positiveInt.max(4096).default(EMBEDDING_DEFAULTS.batchSize)),
  /** ONNX Runtime CPU memory arena: faster buffer reuse, but RSS grows with shape variety. @default true */
  modelArena: setting("DCSM_MODEL_ARENA", bool.default(true)),
  /** Longest wait for a fuller model batch, in ms. @default 2 */
  embedMaxWaitMs: setting(
    "DCSM_EMBED_MAX_WAIT_MS",
    z.coerce.number().min(0).max(1000).default(EMBEDDING_DEFAULTS.maxWaitMs),
  ),
  /** Most inputs waiting for the model; beyond, 429 / `ResourceExhausted`. @default 8192 */
  embedQueue: setting("DCSM_EMBED_QUEUE", positiveInt.max(1_000_000).default(EMBEDDING_DEFAULTS.maxQueue)),
  /** Embedding cache size in MiB, 0 disables it. @default 32 */
  embedCacheMb: setting(
    "DCSM_EMBED_CACHE_MB",
    z.coerce.number().int().min(0).max(65536).default(EMBEDDING_DEFAULTS.cacheMb),
  ),
  /**
   * Model warm-up before reporting ready: "full" runs the largest batch the queue
   * sends (`DCSM_EMBED_BATCH` inputs at the full token window) so memory is at its steady state;
   * "quick" runs one full-window input; "off" skips it. @default "full"
   */
  warmup: setting("DCSM_WARMUP", z.enum(["full", "quick", "off"]).default("full")),
  /** API keys with every right on every namespace, comma-separated; prefer `DCSM_API_KEYS_FILE`, which holds hashes and scopes. @default [] */
  apiKeys: setting("DCSM_API_KEYS", commaList.default([])),
  /**
   * API keys file: JSON `{"keys":[{"id","sha256","scopes":["ns:right,…"]}]}`
   * with SHA-256 hashes of the keys, never the keys (`dcsm keys new` makes entries). @default ""
   */
  apiKeysFile: setting("DCSM_API_KEYS_FILE", z.string().default("")),
  /** HS256 secret for JWTs, at least 32 bytes. @default "" (HS256 off) */
  jwtSecret: setting(
    "DCSM_JWT_SECRET",
    z
      .string()
      .refine((s) => s === "" || Buffer.byteLength(s) >= 32, "must be at least 32 bytes")
      .default(""),
  ),
  /** PEM file of the RS256 public key (SPKI) JWTs are verified with. @default "" */
  jwtPublicKeyFile: setting("DCSM_JWT_PUBLIC_KEY_FILE", z.string().default("")),
  /** Required JWT `iss`. @default "" (not checked) */
  jwtIssuer: setting("DCSM_JWT_ISSUER", z.string().default("")),
  /** Required JWT `aud`. @default "" (not checked) */
  jwtAudience: setting("DCSM_JWT_AUDIENCE", z.string().default("")),
  /** Serve without authentication on a non-loopback interface (`--insecure`). @default false */
  insecure: setting("DCSM_INSECURE", bool.default(false)),
  /** Bearer token DCSM sends to a remote GLM, when `DCSM_GLM_URL` needs one. @default "" */
  glmApiKey: setting("DCSM_GLM_API_KEY", z.string().default("")),
  /** Most inputs per `/v1/embeddings` request. @default 2048 */
  openaiMaxInputs: setting(
    "DCSM_OPENAI_MAX_INPUTS",
    positiveInt.max(100_000).default(EMBEDDING_DEFAULTS.openaiMaxInputs),
  ),
  /** Inputs over the model window: "truncate" or "pool" (chunk and mean-pool). @default "truncate" */
  longInput: setting("DCSM_LONG_INPUT", z.enum(["truncate", "pool"]).default("truncate")),
  /** Embedding dimension; must match the model. @default 384 */
  dimension: setting("DCSM_VECTOR_DIM", positiveInt.max(8192).default(DEFAULT_KEM_LIMITS.dimension)),
  /** GLM vector index: "hnsw" (exact below 20k vectors, HNSW graph above) or "exact". @default "hnsw" */
  vectorIndex: setting("DCSM_VECTOR_INDEX", z.enum(["hnsw", "exact"]).default("hnsw")),
  /**
   * PostgreSQL for GLM's store, e.g. "postgres://dcsm:secret@db:5432/dcsm":
   * many stateless DCSM nodes share it (docs/postgres.md). Empty keeps the embedded SQLite file.
   */
  postgresUrl: setting(
    "DCSM_POSTGRES_URL",
    z
      .string()
      .regex(/^postgres(ql)?:\/\//, "expected a postgres:// or postgresql:// URL")
      .or(z.literal(""))
      .default(""),
  ),
  /** Connections in this node's PostgreSQL pool. @default 10 */
  postgresPool: setting("DCSM_POSTGRES_POOL", positiveInt.max(1000).default(10)),
  /** Qdrant URL for GLM vectors; empty keeps vectors in process. */
  qdrantUrl: setting("QDRANT_URL", z.string().url().or(z.literal("")).default("")),
  /** Qdrant host, used with `qdrantPort` when `qdrantUrl` is empty. */
  qdrantHost: setting("QDRANT_HOST", z.string().default("")),
  /** Qdrant port. @default 6333 */
  qdrantPort: setting("QDRANT_PORT", port.default(6333)),
  /** Qdrant API key. */
  qdrantApiKey: setting("QDRANT_API_KEY", z.string().default("")),
  /** Qdrant collection. @default "dcsm_kems" */
  qdrantCollection: setting("DCSM_QDRANT_COLLECTION", z.string().min(1).default("dcsm_kems")),
  /** Metadata keys GLM's Qdrant backend indexes for filtering (comma list). */
  glmIndexedKeys: setting(
    "DCSM_GLM_INDEXED_KEYS",
    z
      .string()
      .default("source_path,kind,language")
      .transform((s) =>
        s
          .split(",")
          .map((k) => k.trim())
          .filter(Boolean),
      ),
  ),
  /** How long GLM remembers an idempotency key, ms (docs/storage.md). @default 86400000 */
  idempotencyTtlMs: setting("DCSM_IDEMPOTENCY_TTL_MS", positiveInt.default(GLM_DEFAULTS.idempotencyTtlMs)),
  /** Byte budget of one RetrieveKEMs page: the page ends early, with a next token. @default 8388608 */
  maxResponseBytes: setting("DCSM_MAX_RESPONSE_BYTES", positiveInt.default(DEFAULT_KEM_LIMITS.maxResponseBytes)),
  /** Hybrid search RRF constant (docs/search.md). @default 5 */
  hybridRrfK: setting("DCSM_HYBRID_RRF_K", z.coerce.number().min(0).max(1000).default(DEFAULT_HYBRID.rrfK)),
  /** Hybrid search weight of the dense list. @default 1 */
  hybridVectorWeight: setting(
    "DCSM_HYBRID_VECTOR_WEIGHT",
    z.coerce.number().min(0).max(100).default(DEFAULT_HYBRID.vectorWeight),
  ),
  /** Hybrid search weight of the lexical list. @default 1 */
  hybridLexicalWeight: setting(
    "DCSM_HYBRID_LEXICAL_WEIGHT",
    z.coerce.number().min(0).max(100).default(DEFAULT_HYBRID.lexicalWeight),
  ),
  /** Hybrid search rank window: hits per list and most results per query. @default 100 */
  hybridWindow: setting("DCSM_HYBRID_WINDOW", positiveInt.max(MAX_HYBRID_WINDOW).default(DEFAULT_HYBRID.window)),
  /** Most unary RPCs in progress in the process; more are `ResourceExhausted` with `retry-after`. @default 1024 */
  maxInFlight: setting("DCSM_MAX_IN_FLIGHT", positiveInt.max(1_000_000).default(1024)),
  /** Most unary RPCs in progress per principal (API key id or JWT subject); more are `ResourceExhausted` with `retry-after`. @default 256 */
  maxInFlightPerPrincipal: setting("DCSM_MAX_IN_FLIGHT_PER_PRINCIPAL", positiveInt.max(1_000_000).default(256)),
  /**
   * Event-loop lag target of admission, ms (0 turns the check off): while every tick of the event
   * loop has been later than this for 100 ms, unary calls are refused `ResourceExhausted` like a
   * full process (runtime/host/loop-lag.ts, docs/overload.md). @default 0
   */
  admissionLagMs: setting("DCSM_ADMISSION_LAG_MS", z.coerce.number().int().min(0).max(10_000).default(0)),
  /** Seconds in the `retry-after` of an admission refusal. @default 1 */
  retryAfterSeconds: setting("DCSM_RETRY_AFTER_SECONDS", positiveInt.max(3600).default(1)),
  /** Most open connections on the gRPC (h2c) and TLS listeners; more are closed on accept. @default 1024 */
  grpcMaxConnections: setting("DCSM_GRPC_MAX_CONNECTIONS", positiveInt.max(1_000_000).default(1024)),
  /** Longest time for a new gRPC/TLS connection to complete its HTTP/2 preface (TLS: send its first byte), ms. @default 10000 */
  grpcHandshakeTimeoutMs: setting("DCSM_GRPC_HANDSHAKE_TIMEOUT_MS", positiveInt.max(3_600_000).default(10_000)),
  /**
   * Seconds an HTTP/1.1 keep-alive connection of the plain HTTP listener (Connect, gRPC-Web) may
   * stay idle before the server closes it (`Bun.serve`'s `idleTimeout`, at most 255). Clients keep idle
   * sockets pooled; one reused just as the server closes it fails with ECONNRESET, so this is
   * longer than the pools of common clients (Node's default agent drops idle sockets after 5 s).
   * Bun's own default, 10 s, cost about one call in 35,000 under the load test. @default 120
   */
  httpIdleTimeoutS: setting("DCSM_HTTP_IDLE_TIMEOUT_S", positiveInt.max(255).default(120)),
  /** Longest time an HTTP/2 connection may stay without an open stream before GOAWAY, ms. @default 300000 */
  grpcIdleTimeoutMs: setting("DCSM_GRPC_IDLE_TIMEOUT_MS", positiveInt.max(86_400_000).default(300_000)),
  /** Most open health `Watch` streams per process (open without credentials); more are `ResourceExhausted`. @default 64 */
  healthMaxWatchers: setting("DCSM_HEALTH_MAX_WATCHERS", positiveInt.max(1_000_000).default(64)),
  /** Largest request body in bytes on every protocol. @default 16777216 */
  maxMessageBytes: setting("DCSM_MAX_MESSAGE_BYTES", positiveInt.default(16 * 1024 * 1024)),
  /** Largest KEM content in bytes. @default 1048576 */
  maxContentBytes: setting("DCSM_MAX_CONTENT_BYTES", positiveInt.default(DEFAULT_KEM_LIMITS.maxContentBytes)),
  /** Largest batch store. @default 1000 */
  maxBatchSize: setting("DCSM_MAX_BATCH", positiveInt.max(100000).default(DEFAULT_KEM_LIMITS.maxBatchSize)),
  /** Largest page. @default 1000 */
  maxPageSize: setting("DCSM_MAX_PAGE_SIZE", positiveInt.max(100000).default(DEFAULT_KEM_LIMITS.maxPageSize)),
  /** Largest KEM metadata, bytes of JSON. @default 65536 */
  maxMetadataBytes: setting("DCSM_MAX_METADATA_BYTES", positiveInt.default(DEFAULT_KEM_LIMITS.maxMetadataBytes)),
  /** Most top-level metadata keys per KEM. @default 256 */
  maxMetadataKeys: setting(
    "DCSM_MAX_METADATA_KEYS",
    positiveInt.max(100000).default(DEFAULT_KEM_LIMITS.maxMetadataKeys),
  ),
  /** Largest single top-level metadata value, bytes of JSON. @default 16384 */
  maxMetadataValueBytes: setting(
    "DCSM_MAX_METADATA_VALUE_BYTES",
    positiveInt.default(DEFAULT_KEM_LIMITS.maxMetadataValueBytes),
  ),
  /** Base URL of a remote GLM for KPS; empty means in-process. */
  glmUrl: setting("DCSM_GLM_URL", z.string().url().or(z.literal("")).default("")),
  /** Redis for SWM, e.g. "redis://127.0.0.1:6379/0"; empty means the in-process working set. */
  redisUrl: setting(
    "REDIS_URL",
    z
      .string()
      .regex(/^rediss?:\/\//, "expected a redis:// or rediss:// URL")
      .or(z.literal(""))
      .default(""),
  ),
  /** Metadata keys SWM indexes, comma-separated. @default [] */
  swmIndexedKeys: setting(
    "DCSM_SWM_INDEXED_KEYS",
    commaList
      .pipe(z.array(z.string().regex(/^[A-Za-z0-9_\-.@/]{1,128}$/, "metadata keys use [A-Za-z0-9_-.@/]")))
      .default([]),
  ),
  /** Most KEMs in the in-process working set. @default 100000 */
  swmMaxEntries: setting("DCSM_SWM_MAX_ENTRIES", positiveInt.default(SWM_DEFAULTS.maxEntries)),
  /** Byte bound of the in-process working set, 0 for none. @default 0 */
  swmMaxBytes: setting("DCSM_SWM_MAX_BYTES", z.coerce.number().int().min(0).default(0)),
  /** `maxmemory` SWM sets on Redis, e.g. "512mb"; empty leaves it. @default "" */
  swmRedisMaxmemory: setting(
    "DCSM_SWM_REDIS_MAXMEMORY",
    z
      .string()
      .regex(/^(\d+(kb|mb|gb|b)?)?$/i, "expected a size like 512mb")
      .default(""),
  ),
  /** Prefix of SWM's Redis keys. @default "" */
  swmRedisPrefix: setting("DCSM_SWM_REDIS_PREFIX", z.string().max(64).default("")),
  /** TTL of cached KEMs on Redis after their last write, ms. @default 2592000000 (30 days) */
  swmKemTtlMs: setting("DCSM_SWM_KEM_TTL_MS", positiveInt.default(SWM_DEFAULTS.kemTtlMs)),
  /** Events kept for resuming subscribers. @default 10000 */
  swmEventHistory: setting("DCSM_SWM_EVENT_HISTORY", positiveInt.max(10_000_000).default(SWM_DEFAULTS.eventHistory)),
  /**
   * Byte budget of the in-process event history: events carry
   * their KEM, so beyond this the oldest are dropped; resuming from a dropped sequence gets
   * RELOAD_REQUIRED. (The Redis log keeps headers only.) @default 67108864 (64 MiB)
   */
  swmEventHistoryBytes: setting("DCSM_SWM_EVENT_HISTORY_BYTES", positiveInt.default(SWM_DEFAULTS.eventHistoryBytes)),
  /** Most open SWM event streams per process; more are `ResourceExhausted`. @default 1000 */
  swmMaxSubscribers: setting(
    "DCSM_SWM_MAX_SUBSCRIBERS",
    positiveInt.max(1_000_000).default(DEFAULT_SWM_LIMITS.maxSubscribers),
  ),
  /** Most open SWM event streams per principal (API key id or JWT subject) per process; more are `ResourceExhausted`. @default 100 */
  swmMaxSubscribersPerPrincipal: setting(
    "DCSM_SWM_MAX_SUBSCRIBERS_PER_PRINCIPAL",
    positiveInt.max(1_000_000).default(DEFAULT_SWM_LIMITS.maxSubscribersPerPrincipal),
  ),
  /** Events buffered per event stream; a consumer further behind is dropped with `ResourceExhausted`. @default 1000 */
  swmSubscriberBuffer: setting(
    "DCSM_SWM_SUBSCRIBER_BUFFER",
    positiveInt.max(1_000_000).default(DEFAULT_SWM_LIMITS.subscriberBuffer),
  ),
  /** Idle time before an event stream gets a HEARTBEAT, ms. @default 15000 */
  swmHeartbeatMs: setting("DCSM_SWM_HEARTBEAT_MS", positiveInt.min(100).default(DEFAULT_SWM_LIMITS.heartbeatMs)),
  /** Largest write-behind batch to GLM. @default 100 */
  swmWriteBehindBatch: setting(
    "DCSM_SWM_WRITE_BEHIND_BATCH",
    positiveInt.max(10_000).default(SWM_DEFAULTS.writeBehindBatch),
  ),
  /** Longest wait before a partial write-behind batch is sent, ms. @default 200 */
  swmWriteBehindDelayMs: setting(
    "DCSM_SWM_WRITE_BEHIND_DELAY_MS",
    positiveInt.default(SWM_DEFAULTS.writeBehindDelayMs),
  ),
  /** Consumer name of this process's write-behind worker on Redis. @default the host name */
  swmWorkerName: setting("DCSM_SWM_WORKER_NAME", z.string().min(1).max(128).default(hostname())),
  /** Queued writes pending this long on a dead worker are taken over, ms. @default 30000 */
  swmClaimIdleMs: setting("DCSM_SWM_CLAIM_IDLE_MS", positiveInt.default(SWM_DEFAULTS.claimIdleMs)),
  /** Log level. @default "info" */
  logLevel: setting("DCSM_LOG_LEVEL", z.enum(["trace", "debug", "info", "warn", "error", "silent"]).default("info")),
  /** TLS certificate chain, PEM file; with `tlsKey`, one HTTPS port serves every protocol (ALPN). */
  tlsCert: setting("DCSM_TLS_CERT", pemFile("cert")),
  /** TLS private key, PEM file; set with `tlsCert` or not at all. */
  tlsKey: setting("DCSM_TLS_KEY", pemFile("key")),
  /** CA bundle clients trust, PEM file: used by the CLI's client commands, not by the server. */
  tlsCa: setting("DCSM_TLS_CA", pemFile("cert")),
};

type Settings = typeof SETTINGS;

/** Schema of {@link DcsmConfig}, built from the settings table. */
export const configSchema = z
  .object(
    Object.fromEntries(Object.entries(SETTINGS).map(([k, v]) => [k, v.schema])) as {
      [K in keyof Settings]: Settings[K]["schema"];
    },
  )
  .superRefine(checkTlsPair);

/** The validated DCSM configuration. */
export type DcsmConfig = z.infer<typeof configSchema>;

/** The environment variable of each field. */
const ENV_NAMES = Object.fromEntries(Object.entries(SETTINGS).map(([k, v]) => [k, v.env])) as Record<
  keyof DcsmConfig,
  string
>;

/** Thrown for an invalid configuration; the message lists every bad setting and its variable. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

/**
 * Builds the configuration: defaults, overridden by environment variables, overridden by `overrides`
 * (CLI flags or test settings).
 * @param env - environment (default `process.env`).
 * @param overrides - explicit values, highest precedence.
 * @throws ConfigError listing each invalid value with its variable name.
 */
export function loadConfig(
  env: Record<string, string | undefined> = process.env,
  overrides: Partial<Record<keyof DcsmConfig, unknown>> = {},
): DcsmConfig {
  const raw: Record<string, unknown> = {};
  for (const [key, name] of Object.entries(ENV_NAMES)) {
    const v = env[name];
    if (v !== undefined && v !== "") raw[key] = v;
  }
  for (const [k, v] of Object.entries(overrides)) if (v !== undefined) raw[k] = v;
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => {
      const key = String(i.path[0] ?? "");
      const name = ENV_NAMES[key as keyof DcsmConfig];
      return `  ${key}${name ? ` (${name})` : ""}: ${i.message}`;
    });
    throw new ConfigError(`invalid configuration:\n${lines.join("\n")}`);
  }
  return parsed.data;
}

/** The Qdrant URL implied by a configuration (`QDRANT_URL`, else `QDRANT_HOST`:`QDRANT_PORT`), or "". */
export function qdrantUrlOf(config: DcsmConfig): string {
  if (config.qdrantUrl) return config.qdrantUrl;
  return config.qdrantHost ? `http://${config.qdrantHost}:${config.qdrantPort}` : "";
}

/** The KEM limits implied by a configuration. */
export function limitsOf(config: DcsmConfig): KemLimits {
  return {
    ...DEFAULT_KEM_LIMITS,
    dimension: config.dimension,
    maxContentBytes: config.maxContentBytes,
    maxBatchSize: config.maxBatchSize,
    maxPageSize: config.maxPageSize,
    maxMetadataBytes: config.maxMetadataBytes,
    maxMetadataKeys: config.maxMetadataKeys,
    maxMetadataValueBytes: config.maxMetadataValueBytes,
    maxResponseBytes: config.maxResponseBytes,
  };
}

/** The hybrid search parameters implied by a configuration. */
export function hybridOf(config: DcsmConfig): HybridOptions {
  return {
    rrfK: config.hybridRrfK,
    vectorWeight: config.hybridVectorWeight,
    lexicalWeight: config.hybridLexicalWeight,
    window: config.hybridWindow,
  };
}
