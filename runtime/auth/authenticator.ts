/**
 * Authentication of every call (docs/security.md): API keys, stored as SHA-256 hashes with their
 * scopes in a keys file (or given whole in `DCSM_API_KEYS`, every right on every namespace), and
 * JWTs (HS256 with a shared secret, RS256 with a public key) verified by `jose`. The same
 * credentials work on every protocol: gRPC metadata and HTTP headers are both headers —
 * `authorization: Bearer <key or JWT>`, or `x-api-key: <key>` / `api-key: <key>`.
 * @module
 */
import { createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { type CryptoKey, importSPKI, type JWTVerifyOptions, jwtVerify } from "jose";
import { z } from "zod";
import { type Principal, parseScopes, RIGHTS, SYSTEM_PRINCIPAL } from "../../services/common/access.ts";
import { AuthenticationError } from "../../services/common/errors.ts";
import type { DcsmConfig } from "../config.ts";

/** One entry of the API keys file. */
const keyEntrySchema = z.object({
  /** Key id, shown in logs and errors (never the key). */
  id: z.string().min(1).max(128),
  /** Lower-case hex SHA-256 of the whole key string. */
  sha256: z.string().regex(/^[0-9a-f]{64}$/, "expected 64 lower-case hex digits"),
  /** Scope strings, `"<namespace>:<right>[,<right>…]"`. */
  scopes: z.array(z.string()).min(1),
});
const keysFileSchema = z.object({ keys: z.array(keyEntrySchema) });

/** An API keys file entry: `{ id, sha256, scopes }`. */
export type ApiKeyEntry = z.infer<typeof keyEntrySchema>;

/** Authenticates calls from their headers. */
export interface Authenticator {
  /** False when no credentials are configured: every caller is {@link SYSTEM_PRINCIPAL}-like "anonymous". */
  readonly enabled: boolean;
  /**
   * The principal the headers prove.
   * @throws AuthenticationError (`Unauthenticated`) for missing, unknown, expired or malformed credentials.
   */
  authenticate(headers: Headers): Promise<Principal>;
}

/** SHA-256 (hex) of a key: what the keys file stores. */
export function hashApiKey(key: string): string {
  return createHash("sha256").update(key).digest("hex");
}

/**
 * A new random API key (`dcsm_` + 32 random bytes, base64url) and its keys-file entry.
 * @param id - key id. @param scopes - scope strings (validated).
 * @throws Error for invalid scopes.
 */
export function newApiKey(id: string, scopes: string[]): { key: string; entry: ApiKeyEntry } {
  parseScopes(scopes);
  const key = `dcsm_${randomBytes(32).toString("base64url")}`;
  return { key, entry: keyEntrySchema.parse({ id, sha256: hashApiKey(key), scopes }) };
}

/** The bearer token or API key in `headers`, or undefined. */
export function credentialOf(headers: Headers): string | undefined {
  const auth = headers.get("authorization");
  if (auth) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    return m ? m[1] : "";
  }
  return headers.get("x-api-key")?.trim() ?? headers.get("api-key")?.trim() ?? undefined;
}

function principalFrom(id: string, scopes: string[]): Principal {
  const parsed = parseScopes(scopes);
  return { id, scopes: parsed.scopes, defaultNamespace: parsed.defaultNamespace };
}

/** Scope strings of a JWT: `scopes` (array) or `scope` (space-separated, OAuth 2). */
function jwtScopes(payload: Record<string, unknown>): string[] {
  if (Array.isArray(payload.scopes) && payload.scopes.every((s) => typeof s === "string"))
    return payload.scopes as string[];
  if (typeof payload.scope === "string") return payload.scope.split(/\s+/).filter((s) => s !== "");
  return [];
}

/**
 * Builds the authenticator from the configuration.
 * @throws Error (the server does not start) for an unreadable or invalid keys file, a bad scope,
 *   or an unreadable RS256 public key.
 */
export async function createAuthenticator(
  config: Pick<DcsmConfig, "apiKeys" | "apiKeysFile" | "jwtSecret" | "jwtPublicKeyFile" | "jwtIssuer" | "jwtAudience">,
): Promise<Authenticator> {
  const byHash = new Map<string, Principal>();
  for (const [i, key] of config.apiKeys.entries())
    byHash.set(hashApiKey(key), { ...SYSTEM_PRINCIPAL, id: `api-key-${i + 1}` });
  if (config.apiKeysFile) {
    let parsed: z.infer<typeof keysFileSchema>;
    try {
      parsed = keysFileSchema.parse(JSON.parse(readFileSync(config.apiKeysFile, "utf8")));
    } catch (err) {
      throw new Error(`DCSM_API_KEYS_FILE ${config.apiKeysFile}: ${err instanceof Error ? err.message : String(err)}`);
    }
    for (const e of parsed.keys) {
      try {
        byHash.set(e.sha256, principalFrom(e.id, e.scopes));
      } catch (err) {
        throw new Error(`DCSM_API_KEYS_FILE ${config.apiKeysFile}, key ${e.id}: ${(err as Error).message}`);
      }
    }
  }
  const jwtKeys: { alg: string; key: Uint8Array | CryptoKey }[] = [];
  if (config.jwtSecret) jwtKeys.push({ alg: "HS256", key: new TextEncoder().encode(config.jwtSecret) });
  if (config.jwtPublicKeyFile) {
    try {
      jwtKeys.push({ alg: "RS256", key: await importSPKI(readFileSync(config.jwtPublicKeyFile, "utf8"), "RS256") });
    } catch (err) {
      throw new Error(`DCSM_JWT_PUBLIC_KEY_FILE ${config.jwtPublicKeyFile}: ${(err as Error).message}`);
    }
  }
  const verifyOptions: JWTVerifyOptions = {
    issuer: config.jwtIssuer || undefined,
    audience: config.jwtAudience || undefined,
    requiredClaims: ["sub", "exp"],
  };
  const enabled = byHash.size > 0 || jwtKeys.length > 0;

  async function fromJwt(token: string): Promise<Principal> {
    let header: { alg?: unknown };
    try {
      header = JSON.parse(Buffer.from(token.split(".")[0]!, "base64url").toString("utf8"));
    } catch {
      throw new AuthenticationError("the bearer token is not a well-formed JWT");
    }
    const entry = jwtKeys.find((k) => k.alg === header.alg);
    if (!entry)
      throw new AuthenticationError(
        `JWT algorithm ${JSON.stringify(header.alg)} is not accepted here (accepted: ${jwtKeys.map((k) => k.alg).join(", ") || "none"})`,
      );
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, entry.key, { ...verifyOptions, algorithms: [entry.alg] }));
    } catch (err) {
      throw new AuthenticationError(`JWT rejected: ${(err as Error).message}`);
    }
    const scopes = jwtScopes(payload);
    if (scopes.length === 0)
      throw new AuthenticationError(
        `JWT of ${String(payload.sub)} carries no scopes (claim "scopes" or "scope"; rights: ${RIGHTS.join(", ")})`,
      );
    try {
      return principalFrom(String(payload.sub), scopes);
    } catch (err) {
      throw new AuthenticationError(`JWT of ${String(payload.sub)}: ${(err as Error).message}`);
    }
  }

  return {
    enabled,
    async authenticate(headers) {
      if (!enabled) return ANONYMOUS;
      const token = credentialOf(headers);
      if (!token)
        throw new AuthenticationError(
          "credentials required: send authorization: Bearer <API key or JWT>, or x-api-key",
        );
      if (jwtKeys.length > 0 && token.split(".").length === 3 && !token.startsWith("dcsm_")) return fromJwt(token);
      const p = byHash.get(hashApiKey(token));
      if (!p) throw new AuthenticationError("unknown API key");
      return p;
    },
  };
}

/** The caller when authentication is off: every right, named "anonymous" in logs. */
export const ANONYMOUS: Principal = Object.freeze({ ...SYSTEM_PRINCIPAL, id: "anonymous" });
