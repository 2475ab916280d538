/**
 * TLS settings (README "TLS (one port for everything)"): `DCSM_TLS_CERT`, `DCSM_TLS_KEY` (PEM file
 * paths, both or neither) and `DCSM_TLS_CA` (PEM bundle clients trust). Zod pieces for
 * `runtime/config.ts` that check at start that each file exists and parses and that the key belongs
 * to the certificate, so a bad setting stops the server with a message naming the variable instead
 * of failing at the first handshake.
 * @module
 */
import { createPrivateKey, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { z } from "zod";

/** The TLS part of the configuration ("" = not set). */
export interface TlsSettings {
  tlsCert: string;
  tlsKey: string;
  tlsCa: string;
}

function readPem(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(code === "ENOENT" ? `no such file: ${path}` : `cannot read ${path}: ${(err as Error).message}`);
  }
}

function firstLine(err: unknown): string {
  return String((err as Error).message ?? err).split("\n")[0]!;
}

/**
 * Zod schema of a PEM file path setting: "" (unset) or a readable file holding a certificate
 * (`kind` "cert", also used for CA bundles) or a private key (`kind` "key").
 * @param kind - what the file must contain.
 * @returns a string schema defaulting to "" whose issues say "no such file: …" or
 *   "… is not a PEM certificate/private key (…)".
 */
export function pemFile(kind: "cert" | "key"): z.ZodDefault<z.ZodString> {
  return z
    .string()
    .superRefine((path, ctx) => {
      if (path === "") return;
      try {
        const pem = readPem(path);
        try {
          if (kind === "cert") new X509Certificate(pem);
          else createPrivateKey(pem);
        } catch (err) {
          throw new Error(
            `${path} is not a PEM ${kind === "cert" ? "certificate" : "private key"} (${firstLine(err)})`,
          );
        }
      } catch (err) {
        ctx.addIssue({ code: "custom", message: (err as Error).message });
      }
    })
    .default("");
}

/**
 * Cross-field check for the configuration object: certificate and key come together, and the key
 * belongs to the certificate. Adds its issue at `tlsKey` or `tlsCert`; skips files that already
 * failed their own check.
 * @param config - the parsed TLS settings.
 * @param ctx - the zod refinement context.
 */
export function checkTlsPair(config: TlsSettings, ctx: z.RefinementCtx): void {
  if (!config.tlsCert && !config.tlsKey) return;
  if (!config.tlsKey) {
    ctx.addIssue({
      code: "custom",
      path: ["tlsKey"],
      message: "DCSM_TLS_CERT is set but DCSM_TLS_KEY is not: TLS needs both (or neither)",
    });
    return;
  }
  if (!config.tlsCert) {
    ctx.addIssue({
      code: "custom",
      path: ["tlsCert"],
      message: "DCSM_TLS_KEY is set but DCSM_TLS_CERT is not: TLS needs both (or neither)",
    });
    return;
  }
  try {
    const cert = new X509Certificate(readFileSync(config.tlsCert));
    if (!cert.checkPrivateKey(createPrivateKey(readFileSync(config.tlsKey)))) {
      ctx.addIssue({
        code: "custom",
        path: ["tlsKey"],
        message: `${config.tlsKey} is not the private key of the certificate in ${config.tlsCert}`,
      });
    }
  } catch {
    // Unreadable or unparsable: the field's own check reported it.
  }
}

/** PEM contents of a TLS configuration. */
export interface TlsMaterial {
  /** Certificate chain, PEM. */
  cert: Buffer;
  /** Private key, PEM. */
  key: Buffer;
}

/**
 * Reads the certificate and key named by a validated configuration.
 * @returns the PEM contents, or undefined when TLS is off (no `tlsCert`).
 * @throws the read error when a file vanished since validation.
 */
export function readTlsMaterial(config: TlsSettings): TlsMaterial | undefined {
  if (!config.tlsCert || !config.tlsKey) return undefined;
  return { cert: readFileSync(config.tlsCert), key: readFileSync(config.tlsKey) };
}
