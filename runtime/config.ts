/**
 * DCSM configuration: one typed object built from `DCSM_*` environment variables and CLI flags,
 * validated with zod; nothing else reads the environment (docs/architecture.md "Code layout").
 * @module
 */
import { hostname } from "node:os";
import { resolve } from "node:path";
import { z } from "zod";
import { DEFAULT_KEM_LIMITS, type KemLimits } from "../services/shared/limits.ts";
import { DEFAULT_HYBRID, type HybridOptions, MAX_HYBRID_WINDOW } from "../services/glm/search/kem-search.ts";
import { checkTlsPair, pemFile } from "./tls-config.ts";

/** Repository root (where `models/` ships). */
export const REPO_ROOT = resolve(import.meta.dir, "..");

const port = z.coerce.number().int().min(0).max(65535);
const positiveInt = z.coerce.number().int().positive();
const bool = z
  .union([z.boolean(), z.string()])
  .transform((v, ctx) => {
    if (typeof v === "boolean") return v;
    const s = v.trim().toLowerCase();
    if (["1", "true", "yes", "on"].includes(s)) return true;
    if (["0", "false", "no", "off", ""].includes(s)) return false;
    ctx.addIssue({ code: "custom", message: `expected a boolean (1/0, true/false), got ${JSON.stringify(v)}` });
    return z.NEVER;
  });

/** Schema of {@link DcsmConfig}; each field lists its environment variable. */
export const configSchema = z.object({
  /** Interface both listeners bind to (`DCSM_HOST`). @default "127.0.0.1" */
  host: z.string().min(1).default("127.0.0.1"),
  /** HTTP port for Connect and gRPC-Web (`DCSM_HTTP_PORT`); 0 picks a free port. @default 8080 */
  httpPort: port.default(8080),
  /** gRPC (h2c) port (`DCSM_GRPC_PORT`); 0 picks a free port. @default 50051 */
  grpcPort: port.default(50051),
  /** Data folder for the SQLite store (`DCSM_DATA_DIR`). @default "./data" */
  dataDir: z.string().min(1).default("./data"),
  /** Embedding model id (`DCSM_MODEL`): a folder under `modelDir`, or a Hugging Face id. */
  model: z.string().min(1).default("all-MiniLM-L6-v2"),
  /** Folder of local models (`DCSM_MODEL_DIR`). @default "<repo>/models" */
  modelDir: z.string().min(1).default(resolve(REPO_ROOT, "models")),
  /** ONNX weights variant (`DCSM_MODEL_DTYPE`). @default "q8" */
  modelDtype: z.enum(["q8", "fp32", "fp16", "int8", "uint8", "q4"]).default("q8"),
  /** Never download models (`DCSM_MODEL_OFFLINE`). @default false */
  modelOffline: bool.default(false),
  /**
   * Inputs per model call (`DCSM_EMBED_BATCH`). 16 measured faster than 32 and 64 for the default
   * model on 2 cores (less padding per call; models/all-MiniLM-L6-v2/PROVENANCE.md). @default 16
   */
  embedBatchSize: positiveInt.max(4096).default(16),
  /** ONNX Runtime CPU memory arena (`DCSM_MODEL_ARENA`): faster buffer reuse, but RSS grows with shape variety. @default true */
  modelArena: bool.default(true),
  /** Longest wait for a fuller model batch, in ms (`DCSM_EMBED_MAX_WAIT_MS`). @default 2 */
  embedMaxWaitMs: z.coerce.number().min(0).max(1000).default(2),
  /** Most inputs waiting for the model; beyond, 429 / `ResourceExhausted` (`DCSM_EMBED_QUEUE`). @default 8192 */
  embedQueue: positiveInt.max(1_000_000).default(8192),
  /** Embedding cache size in MiB, 0 disables it (`DCSM_EMBED_CACHE_MB`). @default 32 */
  embedCacheMb: z.coerce.number().int().min(0).max(65536).default(32),
  /**
   * Model warm-up before reporting ready (`DCSM_WARMUP`): "full" runs the largest batch the queue
   * sends (`DCSM_EMBED_BATCH` inputs at the full token window) so memory is at its steady state;
   * "quick" runs one full-window input; "off" skips it. @default "full"
   */
  warmup: z.enum(["full", "quick", "off"]).default("full"),
  /** API keys with every right on every namespace, comma-separated (`DCSM_API_KEYS`); prefer `DCSM_API_KEYS_FILE`, which holds hashes and scopes. @default [] */
  apiKeys: z
    .union([z.array(z.string()), z.string()])
    .transform((v) => (Array.isArray(v) ? v : v.split(",")).map((k) => k.trim()).filter((k) => k !== ""))
    .default([]),
  /**
   * API keys file (`DCSM_API_KEYS_FILE`): JSON `{"keys":[{"id","sha256","scopes":["ns:right,…"]}]}`
   * with SHA-256 hashes of the keys, never the keys (`dcsm keys new` makes entries). @default ""
   */
  apiKeysFile: z.string().default(""),
  /** HS256 secret for JWTs, at least 32 bytes (`DCSM_JWT_SECRET`). @default "" (HS256 off) */
  jwtSecret: z.string().refine((s) => s === "" || Buffer.byteLength(s) >= 32, "must be at least 32 bytes").default(""),
  /** PEM file of the RS256 public key (SPKI) JWTs are verified with (`DCSM_JWT_PUBLIC_KEY_FILE`). @default "" */
  jwtPublicKeyFile: z.string().default(""),
  /** Required JWT `iss` (`DCSM_JWT_ISSUER`). @default "" (not checked) */
  jwtIssuer: z.string().default(""),
  /** Required JWT `aud` (`DCSM_JWT_AUDIENCE`). @default "" (not checked) */
  jwtAudience: z.string().default(""),
  /** Serve without authentication on a non-loopback interface (`DCSM_INSECURE`, `--insecure`). @default false */
  insecure: bool.default(false),
  /** Bearer token DCSM sends to a remote GLM (`DCSM_GLM_API_KEY`), when `DCSM_GLM_URL` needs one. @default "" */
  glmApiKey: z.string().default(""),
  /** Most inputs per `/v1/embeddings` request (`DCSM_OPENAI_MAX_INPUTS`). @default 2048 */
  openaiMaxInputs: positiveInt.max(100_000).default(2048),
  /** Inputs over the model window: "truncate" or "pool" (chunk and mean-pool) (`DCSM_LONG_INPUT`). @default "truncate" */
  longInput: z.enum(["truncate", "pool"]).default("truncate"),
  /** Embedding dimension; must match the model (`DCSM_VECTOR_DIM`). @default 384 */
  dimension: positiveInt.max(8192).default(DEFAULT_KEM_LIMITS.dimension),
  /** GLM vector index (`DCSM_VECTOR_INDEX`): "hnsw" (exact below 20k vectors, HNSW graph above) or "exact". @default "hnsw" */
  vectorIndex: z.enum(["hnsw", "exact"]).default("hnsw"),
  /**
   * PostgreSQL for GLM's store (`DCSM_POSTGRES_URL`), e.g. "postgres://dcsm:secret@db:5432/dcsm":
   * many stateless DCSM nodes share it (docs/postgres.md). Empty keeps the embedded SQLite file.
   */
  postgresUrl: z.string().regex(/^postgres(ql)?:\/\//, "expected a postgres:// or postgresql:// URL").or(z.literal("")).default(""),
  /** Connections in this node's PostgreSQL pool (`DCSM_POSTGRES_POOL`). @default 10 */
  postgresPool: positiveInt.max(1000).default(10),
  /** Qdrant URL for GLM vectors (`QDRANT_URL`); empty keeps vectors in process. */
  qdrantUrl: z.string().url().or(z.literal("")).default(""),
  /** Qdrant host (`QDRANT_HOST`), used with `qdrantPort` when `qdrantUrl` is empty. */
  qdrantHost: z.string().default(""),
  /** Qdrant port (`QDRANT_PORT`). @default 6333 */
  qdrantPort: port.default(6333),
  /** Qdrant API key (`QDRANT_API_KEY`). */
  qdrantApiKey: z.string().default(""),
  /** Qdrant collection (`DCSM_QDRANT_COLLECTION`). @default "dcsm_kems" */
  qdrantCollection: z.string().min(1).default("dcsm_kems"),
  /** Metadata keys GLM's Qdrant backend indexes for filtering (`DCSM_GLM_INDEXED_KEYS`, comma list). */
  glmIndexedKeys: z
    .string()
    .default("source_path,kind,language")
    .transform((s) => s.split(",").map((k) => k.trim()).filter(Boolean)),
  /** How long GLM remembers an idempotency key, ms (`DCSM_IDEMPOTENCY_TTL_MS`; docs/storage.md). @default 86400000 */
  idempotencyTtlMs: positiveInt.default(24 * 3600 * 1000),
  /** Byte budget of one RetrieveKEMs page (`DCSM_MAX_RESPONSE_BYTES`): the page ends early, with a next token. @default 8388608 */
  maxResponseBytes: positiveInt.default(DEFAULT_KEM_LIMITS.maxResponseBytes),
  /** Hybrid search RRF constant (`DCSM_HYBRID_RRF_K`; docs/search.md). @default 5 */
  hybridRrfK: z.coerce.number().min(0).max(1000).default(DEFAULT_HYBRID.rrfK),
  /** Hybrid search weight of the dense list (`DCSM_HYBRID_VECTOR_WEIGHT`). @default 1 */
  hybridVectorWeight: z.coerce.number().min(0).max(100).default(DEFAULT_HYBRID.vectorWeight),
  /** Hybrid search weight of the lexical list (`DCSM_HYBRID_LEXICAL_WEIGHT`). @default 1 */
  hybridLexicalWeight: z.coerce.number().min(0).max(100).default(DEFAULT_HYBRID.lexicalWeight),
  /** Hybrid search rank window: hits per list and most results per query (`DCSM_HYBRID_WINDOW`). @default 100 */
  hybridWindow: positiveInt.max(MAX_HYBRID_WINDOW).default(DEFAULT_HYBRID.window),
  /** Most unary RPCs in progress in the process; more are `ResourceExhausted` with `retry-after` (`DCSM_MAX_IN_FLIGHT`). @default 1024 */
  maxInFlight: positiveInt.max(1_000_000).default(1024),
  /** Most unary RPCs in progress per principal (API key id or JWT subject); more are `ResourceExhausted` with `retry-after` (`DCSM_MAX_IN_FLIGHT_PER_PRINCIPAL`). @default 256 */
  maxInFlightPerPrincipal: positiveInt.max(1_000_000).default(256),
  /** Seconds in the `retry-after` of an admission refusal (`DCSM_RETRY_AFTER_SECONDS`). @default 1 */
  retryAfterSeconds: positiveInt.max(3600).default(1),
  /**
   * Event-loop lag target of admission, ms (`DCSM_ADMISSION_LAG_MS`; 0 turns the check off): while
   * every tick of the event loop has been later than this for 100 ms, unary calls are refused
   * `ResourceExhausted` like a full process (runtime/host/loop-lag.ts, docs/overload.md). @default 0
   */
  admissionLagMs: z.coerce.number().int().min(0).max(10_000).default(0),
  /** Most open connections on the gRPC (h2c) and TLS listeners; more are closed on accept (`DCSM_GRPC_MAX_CONNECTIONS`). @default 1024 */
  grpcMaxConnections: positiveInt.max(1_000_000).default(1024),
  /** Longest time for a new gRPC/TLS connection to complete its HTTP/2 preface (TLS: send its first byte), ms (`DCSM_GRPC_HANDSHAKE_TIMEOUT_MS`). @default 10000 */
  grpcHandshakeTimeoutMs: positiveInt.max(3_600_000).default(10_000),
  /** Longest time an HTTP/2 connection may stay without an open stream before GOAWAY, ms (`DCSM_GRPC_IDLE_TIMEOUT_MS`). @default 300000 */
  grpcIdleTimeoutMs: positiveInt.max(86_400_000).default(300_000),
  /** Most open health `Watch` streams per process (open without credentials); more are `ResourceExhausted` (`DCSM_HEALTH_MAX_WATCHERS`). @default 64 */
  healthMaxWatchers: positiveInt.max(1_000_000).default(64),
  /** Largest request body in bytes on every protocol (`DCSM_MAX_MESSAGE_BYTES`). @default 16777216 */
  maxMessageBytes: positiveInt.default(16 * 1024 * 1024),
  /** Largest KEM content in bytes (`DCSM_MAX_CONTENT_BYTES`). @default 1048576 */
  maxContentBytes: positiveInt.default(DEFAULT_KEM_LIMITS.maxContentBytes),
  /** Largest batch store (`DCSM_MAX_BATCH`). @default 1000 */
  maxBatchSize: positiveInt.max(100000).default(DEFAULT_KEM_LIMITS.maxBatchSize),
  /** Largest page (`DCSM_MAX_PAGE_SIZE`). @default 1000 */
  maxPageSize: positiveInt.max(100000).default(DEFAULT_KEM_LIMITS.maxPageSize),
  /** Largest KEM metadata, bytes of JSON (`DCSM_MAX_METADATA_BYTES`). @default 65536 */
  maxMetadataBytes: positiveInt.default(DEFAULT_KEM_LIMITS.maxMetadataBytes),
  /** Most top-level metadata keys per KEM (`DCSM_MAX_METADATA_KEYS`). @default 256 */
  maxMetadataKeys: positiveInt.max(100000).default(DEFAULT_KEM_LIMITS.maxMetadataKeys),
  /** Largest single top-level metadata value, bytes of JSON (`DCSM_MAX_METADATA_VALUE_BYTES`). @default 16384 */
  maxMetadataValueBytes: positiveInt.default(DEFAULT_KEM_LIMITS.maxMetadataValueBytes),
  /** Base URL of a remote GLM for KPS (`DCSM_GLM_URL`); empty means in-process. */
  glmUrl: z.string().url().or(z.literal("")).default(""),
  /** Redis for SWM (`REDIS_URL`), e.g. "redis://127.0.0.1:6379/0"; empty means the in-process working set. */
  redisUrl: z.string().regex(/^rediss?:\/\//, "expected a redis:// or rediss:// URL").or(z.literal("")).default(""),
  /** Metadata keys SWM indexes, comma-separated (`DCSM_SWM_INDEXED_KEYS`). @default [] */
  swmIndexedKeys: z
    .union([z.array(z.string()), z.string()])
    .transform((v) => (Array.isArray(v) ? v : v.split(",")).map((k) => k.trim()).filter((k) => k !== ""))
    .pipe(z.array(z.string().regex(/^[A-Za-z0-9_\-.@/]{1,128}$/, "metadata keys use [A-Za-z0-9_-.@/]")))
    .default([]),
  /** Most KEMs in the in-process working set (`DCSM_SWM_MAX_ENTRIES`). @default 100000 */
  swmMaxEntries: positiveInt.default(100_000),
  /** Byte bound of the in-process working set, 0 for none (`DCSM_SWM_MAX_BYTES`). @default 0 */
  swmMaxBytes: z.coerce.number().int().min(0).default(0),
  /** `maxmemory` SWM sets on Redis, e.g. "512mb"; empty leaves it (`DCSM_SWM_REDIS_MAXMEMORY`). @default "" */
  swmRedisMaxmemory: z.string().regex(/^(\d+(kb|mb|gb|b)?)?$/i, "expected a size like 512mb").default(""),
  /** Prefix of SWM's Redis keys (`DCSM_SWM_REDIS_PREFIX`). @default "" */
  swmRedisPrefix: z.string().max(64).default(""),
  /** TTL of cached KEMs on Redis after their last write, ms (`DCSM_SWM_KEM_TTL_MS`). @default 2592000000 (30 days) */
  swmKemTtlMs: positiveInt.default(30 * 24 * 3600 * 1000),
  /** Events kept for resuming subscribers (`DCSM_SWM_EVENT_HISTORY`). @default 10000 */
  swmEventHistory: positiveInt.max(10_000_000).default(10_000),
  /**
   * Byte budget of the in-process event history (`DCSM_SWM_EVENT_HISTORY_BYTES`): events carry
   * their KEM, so beyond this the oldest are dropped; resuming from a dropped sequence gets
   * RELOAD_REQUIRED. (The Redis log keeps headers only.) @default 67108864 (64 MiB)
   */
  swmEventHistoryBytes: positiveInt.default(64 * 1024 * 1024),
  /** Most open SWM event streams per process; more are `ResourceExhausted` (`DCSM_SWM_MAX_SUBSCRIBERS`). @default 1000 */
  swmMaxSubscribers: positiveInt.max(1_000_000).default(1000),
  /** Most open SWM event streams per principal (API key id or JWT subject) per process; more are `ResourceExhausted` (`DCSM_SWM_MAX_SUBSCRIBERS_PER_PRINCIPAL`). @default 100 */
  swmMaxSubscribersPerPrincipal: positiveInt.max(1_000_000).default(100),
  /** Events buffered per event stream; a consumer further behind is dropped with `ResourceExhausted` (`DCSM_SWM_SUBSCRIBER_BUFFER`). @default 1000 */
  swmSubscriberBuffer: positiveInt.max(1_000_000).default(1000),
  /** Idle time before an event stream gets a HEARTBEAT, ms (`DCSM_SWM_HEARTBEAT_MS`). @default 15000 */
  swmHeartbeatMs: positiveInt.min(100).default(15_000),
  /** Largest write-behind batch to GLM (`DCSM_SWM_WRITE_BEHIND_BATCH`). @default 100 */
  swmWriteBehindBatch: positiveInt.max(10_000).default(100),
  /** Longest wait before a partial write-behind batch is sent, ms (`DCSM_SWM_WRITE_BEHIND_DELAY_MS`). @default 200 */
  swmWriteBehindDelayMs: positiveInt.default(200),
  /** Consumer name of this process's write-behind worker on Redis (`DCSM_SWM_WORKER_NAME`). @default the host name */
  swmWorkerName: z.string().min(1).max(128).default(hostname()),
  /** Queued writes pending this long on a dead worker are taken over, ms (`DCSM_SWM_CLAIM_IDLE_MS`). @default 30000 */
  swmClaimIdleMs: positiveInt.default(30_000),
  /** Log level (`DCSM_LOG_LEVEL`). @default "info" */
  logLevel: z.enum(["trace", "debug", "info", "warn", "error", "silent"]).default("info"),
  /** TLS certificate chain, PEM file (`DCSM_TLS_CERT`); with `tlsKey`, one HTTPS port serves every protocol (ALPN). */
  tlsCert: pemFile("cert"),
  /** TLS private key, PEM file (`DCSM_TLS_KEY`); set with `tlsCert` or not at all. */
  tlsKey: pemFile("key"),
  /** CA bundle clients trust, PEM file (`DCSM_TLS_CA`): used by the CLI's client commands, not by the server. */
  tlsCa: pemFile("cert"),
}).superRefine(checkTlsPair);

/** The validated DCSM configuration. */
export type DcsmConfig = z.infer<typeof configSchema>;

const ENV_NAMES: Record<keyof DcsmConfig, string> = {
  host: "DCSM_HOST",
  httpPort: "DCSM_HTTP_PORT",
  grpcPort: "DCSM_GRPC_PORT",
  dataDir: "DCSM_DATA_DIR",
  model: "DCSM_MODEL",
  modelDir: "DCSM_MODEL_DIR",
  modelDtype: "DCSM_MODEL_DTYPE",
  modelOffline: "DCSM_MODEL_OFFLINE",
  embedBatchSize: "DCSM_EMBED_BATCH",
  modelArena: "DCSM_MODEL_ARENA",
  embedMaxWaitMs: "DCSM_EMBED_MAX_WAIT_MS",
  embedQueue: "DCSM_EMBED_QUEUE",
  embedCacheMb: "DCSM_EMBED_CACHE_MB",
  warmup: "DCSM_WARMUP",
  apiKeys: "DCSM_API_KEYS",
  apiKeysFile: "DCSM_API_KEYS_FILE",
  jwtSecret: "DCSM_JWT_SECRET",
  jwtPublicKeyFile: "DCSM_JWT_PUBLIC_KEY_FILE",
  jwtIssuer: "DCSM_JWT_ISSUER",
  jwtAudience: "DCSM_JWT_AUDIENCE",
  insecure: "DCSM_INSECURE",
  glmApiKey: "DCSM_GLM_API_KEY",
  openaiMaxInputs: "DCSM_OPENAI_MAX_INPUTS",
  longInput: "DCSM_LONG_INPUT",
  dimension: "DCSM_VECTOR_DIM",
  vectorIndex: "DCSM_VECTOR_INDEX",
  postgresUrl: "DCSM_POSTGRES_URL",
  postgresPool: "DCSM_POSTGRES_POOL",
  qdrantUrl: "QDRANT_URL",
  qdrantHost: "QDRANT_HOST",
  qdrantPort: "QDRANT_PORT",
  qdrantApiKey: "QDRANT_API_KEY",
  qdrantCollection: "DCSM_QDRANT_COLLECTION",
  glmIndexedKeys: "DCSM_GLM_INDEXED_KEYS",
  idempotencyTtlMs: "DCSM_IDEMPOTENCY_TTL_MS",
  maxResponseBytes: "DCSM_MAX_RESPONSE_BYTES",
  hybridRrfK: "DCSM_HYBRID_RRF_K",
  hybridVectorWeight: "DCSM_HYBRID_VECTOR_WEIGHT",
  hybridLexicalWeight: "DCSM_HYBRID_LEXICAL_WEIGHT",
  hybridWindow: "DCSM_HYBRID_WINDOW",
  maxInFlight: "DCSM_MAX_IN_FLIGHT",
  maxInFlightPerPrincipal: "DCSM_MAX_IN_FLIGHT_PER_PRINCIPAL",
  retryAfterSeconds: "DCSM_RETRY_AFTER_SECONDS",
  admissionLagMs: "DCSM_ADMISSION_LAG_MS",
  grpcMaxConnections: "DCSM_GRPC_MAX_CONNECTIONS",
  grpcHandshakeTimeoutMs: "DCSM_GRPC_HANDSHAKE_TIMEOUT_MS",
  grpcIdleTimeoutMs: "DCSM_GRPC_IDLE_TIMEOUT_MS",
  healthMaxWatchers: "DCSM_HEALTH_MAX_WATCHERS",
  maxMessageBytes: "DCSM_MAX_MESSAGE_BYTES",
  maxContentBytes: "DCSM_MAX_CONTENT_BYTES",
  maxBatchSize: "DCSM_MAX_BATCH",
  maxPageSize: "DCSM_MAX_PAGE_SIZE",
  maxMetadataBytes: "DCSM_MAX_METADATA_BYTES",
  maxMetadataKeys: "DCSM_MAX_METADATA_KEYS",
  maxMetadataValueBytes: "DCSM_MAX_METADATA_VALUE_BYTES",
  glmUrl: "DCSM_GLM_URL",
  redisUrl: "REDIS_URL",
  swmIndexedKeys: "DCSM_SWM_INDEXED_KEYS",
  swmMaxEntries: "DCSM_SWM_MAX_ENTRIES",
  swmMaxBytes: "DCSM_SWM_MAX_BYTES",
  swmRedisMaxmemory: "DCSM_SWM_REDIS_MAXMEMORY",
  swmRedisPrefix: "DCSM_SWM_REDIS_PREFIX",
  swmKemTtlMs: "DCSM_SWM_KEM_TTL_MS",
  swmEventHistory: "DCSM_SWM_EVENT_HISTORY",
  swmEventHistoryBytes: "DCSM_SWM_EVENT_HISTORY_BYTES",
  swmMaxSubscribers: "DCSM_SWM_MAX_SUBSCRIBERS",
  swmMaxSubscribersPerPrincipal: "DCSM_SWM_MAX_SUBSCRIBERS_PER_PRINCIPAL",
  swmSubscriberBuffer: "DCSM_SWM_SUBSCRIBER_BUFFER",
  swmHeartbeatMs: "DCSM_SWM_HEARTBEAT_MS",
  swmWriteBehindBatch: "DCSM_SWM_WRITE_BEHIND_BATCH",
  swmWriteBehindDelayMs: "DCSM_SWM_WRITE_BEHIND_DELAY_MS",
  swmWorkerName: "DCSM_SWM_WORKER_NAME",
  swmClaimIdleMs: "DCSM_SWM_CLAIM_IDLE_MS",
  logLevel: "DCSM_LOG_LEVEL",
  tlsCert: "DCSM_TLS_CERT",
  tlsKey: "DCSM_TLS_KEY",
  tlsCa: "DCSM_TLS_CA",
};

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
export function loadConfig(env: Record<string, string | undefined> = process.env, overrides: Partial<Record<keyof DcsmConfig, unknown>> = {}): DcsmConfig {
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
  return { rrfK: config.hybridRrfK, vectorWeight: config.hybridVectorWeight, lexicalWeight: config.hybridLexicalWeight, window: config.hybridWindow };
}
