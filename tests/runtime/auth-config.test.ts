/**
 * Scope syntax and authenticator configuration errors (the server must not start with a
 * bad keys file or scope), with real files and real jose-signed tokens.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { createAuthenticator, hashApiKey, newApiKey } from "../../runtime/auth/authenticator.ts";
import { can, namespacesWith, parseScopes } from "../../services/common/access.ts";
import { removeTempDirs, tempDir } from "../helpers/temp-dir.ts";

const none = { apiKeys: [], apiKeysFile: "", jwtSecret: "", jwtPublicKeyFile: "", jwtIssuer: "", jwtAudience: "" };
afterAll(() => removeTempDirs());

describe("scopes", () => {
  test("parse namespaces and rights, with * for all", () => {
    const { scopes, defaultNamespace } = parseScopes(["team-a:read,write", "*:read", "ops:*"]);
    const p = { id: "t", scopes, defaultNamespace };
    expect(defaultNamespace).toBe("team-a");
    expect(can(p, "team-a", "write")).toBe(true);
    expect(can(p, "team-b", "read")).toBe(true); // *:read
    expect(can(p, "team-b", "write")).toBe(false);
    expect(can(p, "ops", "lock")).toBe(true);
    expect(namespacesWith(p, "read")).toBe("all");
    expect(namespacesWith(p, "write")).toEqual(["team-a", "ops"]);
    expect(can({ id: "a", ...parseScopes(["x:admin"]) }, "x", "subscribe")).toBe(true); // admin implies every right
  });

  test("reject malformed entries", () => {
    expect(() => parseScopes(["team-a"])).toThrow(/namespace>:<right/);
    expect(() => parseScopes(["team-a:fly"])).toThrow(/unknown right "fly"/);
    expect(() => parseScopes(["bad ns:read"])).toThrow(/namespace must match/);
    expect(() => newApiKey("x", ["nope"])).toThrow();
  });
});

describe("authenticator configuration", () => {
  test("disabled without credentials; keys file entries must be hashes with valid scopes", async () => {
    expect((await createAuthenticator(none)).enabled).toBe(false);
    const dir = tempDir("dcsm-authcfg-");
    const bad = join(dir, "bad.json");
    writeFileSync(bad, JSON.stringify({ keys: [{ id: "k", sha256: "plaintext-key", scopes: ["a:read"] }] }));
    await expect(createAuthenticator({ ...none, apiKeysFile: bad })).rejects.toThrow(/64 lower-case hex/);
    writeFileSync(bad, JSON.stringify({ keys: [{ id: "k", sha256: hashApiKey("k1"), scopes: ["a:teleport"] }] }));
    await expect(createAuthenticator({ ...none, apiKeysFile: bad })).rejects.toThrow(/key k: .*unknown right/);
    await expect(createAuthenticator({ ...none, apiKeysFile: join(dir, "missing.json") })).rejects.toThrow(
      /DCSM_API_KEYS_FILE/,
    );
    await expect(createAuthenticator({ ...none, jwtPublicKeyFile: bad })).rejects.toThrow(/DCSM_JWT_PUBLIC_KEY_FILE/);
    const good = join(dir, "good.json");
    writeFileSync(good, JSON.stringify({ keys: [{ id: "k", sha256: hashApiKey("k1"), scopes: ["a:read"] }] }));
    const auth = await createAuthenticator({ ...none, apiKeysFile: good });
    expect((await auth.authenticate(new Headers({ authorization: "Bearer k1" }))).id).toBe("k");
    await expect(auth.authenticate(new Headers({ authorization: "Basic k1" }))).rejects.toThrow(/credentials required/);
    await expect(auth.authenticate(new Headers({}))).rejects.toThrow(/credentials required/);
  });
});
