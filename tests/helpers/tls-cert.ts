/**
 * Self-signed TLS material for tests, made at test time with the system `openssl`: a P-256 key and
 * a certificate for `localhost` and `127.0.0.1` (it is its own CA, so clients trust it with `ca`).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";

/** Files and contents of a generated certificate. */
export interface TestCert {
  /** Certificate path (PEM). */
  certPath: string;
  /** Private key path (PEM). */
  keyPath: string;
  /** Certificate contents: what clients pass as `ca`. */
  cert: string;
  /** Key contents. */
  key: string;
}

/**
 * Generates a self-signed certificate into `dir`.
 * @param dir - folder for `<name>.cert.pem` and `<name>.key.pem` (e.g. from `tempDir()`).
 * @param name - file name prefix; also the certificate's common name. @default "localhost"
 * @throws Error with openssl's stderr when generation fails (no `openssl` on PATH).
 */
export function makeSelfSignedCert(dir: string, name = "localhost"): TestCert {
  const certPath = join(dir, `${name}.cert.pem`);
  const keyPath = join(dir, `${name}.key.pem`);
  const run = Bun.spawnSync(
    [
      "openssl",
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      keyPath,
      "-out",
      certPath,
      "-days",
      "2",
      "-subj",
      `/CN=${name}`,
      "-addext",
      "subjectAltName=DNS:localhost,IP:127.0.0.1",
    ],
    { stdout: "pipe", stderr: "pipe" },
  );
  if (run.exitCode !== 0) throw new Error(`openssl failed: ${run.stderr.toString()}`);
  return { certPath, keyPath, cert: readFileSync(certPath, "utf8"), key: readFileSync(keyPath, "utf8") };
}
