/**
 * TLS configuration: DCSM_TLS_CERT and DCSM_TLS_KEY come together, name files that
 * exist and parse, and match; DCSM_TLS_CA must parse. Real files made by openssl.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { ConfigError, loadConfig } from "../../runtime/config.ts";
import { removeTempDirs, tempDir } from "../helpers/temp-dir.ts";
import { makeSelfSignedCert, type TestCert } from "../helpers/tls-cert.ts";

let dir: string;
let a: TestCert;
let b: TestCert;
beforeAll(() => {
  dir = tempDir("dcsm-tls-config-");
  a = makeSelfSignedCert(dir, "a");
  b = makeSelfSignedCert(dir, "b");
});
afterAll(() => removeTempDirs());

/** The ConfigError message of loading `env`, or "" when it loads. */
function errorOf(env: Record<string, string>): string {
  try {
    loadConfig(env);
    return "";
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
}

describe("TLS configuration", () => {
  test("off by default; a matching pair and a CA load", () => {
    expect(loadConfig({})).toMatchObject({ tlsCert: "", tlsKey: "", tlsCa: "" });
    expect(loadConfig({ DCSM_TLS_CERT: a.certPath, DCSM_TLS_KEY: a.keyPath, DCSM_TLS_CA: a.certPath })).toMatchObject({
      tlsCert: a.certPath,
      tlsKey: a.keyPath,
      tlsCa: a.certPath,
    });
  });

  test("only a certificate, or only a key: a clear error naming the missing variable", () => {
    const onlyCert = errorOf({ DCSM_TLS_CERT: a.certPath });
    expect(onlyCert).toContain("tlsKey (DCSM_TLS_KEY)");
    expect(onlyCert).toContain("DCSM_TLS_CERT is set but DCSM_TLS_KEY is not");
    expect(errorOf({ DCSM_TLS_KEY: a.keyPath })).toContain("DCSM_TLS_KEY is set but DCSM_TLS_CERT is not");
  });

  test("missing files, files that are not PEM, a key of another certificate", () => {
    const missing = join(dir, "nope.pem");
    expect(errorOf({ DCSM_TLS_CERT: missing, DCSM_TLS_KEY: a.keyPath })).toContain(
      `tlsCert (DCSM_TLS_CERT): no such file: ${missing}`,
    );
    const junk = join(dir, "junk.pem");
    writeFileSync(junk, "not a pem file\n");
    expect(errorOf({ DCSM_TLS_CERT: junk, DCSM_TLS_KEY: a.keyPath })).toContain(`${junk} is not a PEM certificate`);
    expect(errorOf({ DCSM_TLS_CERT: a.certPath, DCSM_TLS_KEY: a.certPath })).toContain(
      `${a.certPath} is not a PEM private key`,
    );
    expect(errorOf({ DCSM_TLS_CERT: a.certPath, DCSM_TLS_KEY: b.keyPath })).toContain(
      `${b.keyPath} is not the private key of the certificate in ${a.certPath}`,
    );
    expect(errorOf({ DCSM_TLS_CA: a.keyPath })).toContain("tlsCa (DCSM_TLS_CA)");
  });
});
