/**
 * The authentication part: API keys and JWT verification from configuration, and the rule that a
 * server without authentication listens only on a loopback interface unless `--insecure`.
 * @module
 */
import { type Authenticator, createAuthenticator } from "../auth/authenticator.ts";
import type { DcsmConfig } from "../config.ts";
import type { StartedPart } from "./part-stack.ts";

/** True for 127.0.0.0/8, ::1 and localhost: where serving without authentication is allowed. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h === "::1" || /^127\.\d+\.\d+\.\d+$/.test(h);
}

/**
 * Builds the authenticator (it holds nothing to release).
 * @throws Error when authentication is off, `config.host` is not loopback and `config.insecure`
 *   is not set; the authenticator's errors for unreadable key files or bad JWT settings.
 */
export async function startAuth(config: DcsmConfig): Promise<StartedPart<Authenticator>> {
  const auth = await createAuthenticator(config);
  if (!auth.enabled && !isLoopback(config.host) && !config.insecure) {
    throw new Error(
      `refusing to serve on ${config.host} without authentication: configure DCSM_API_KEYS_FILE, DCSM_API_KEYS or DCSM_JWT_*, or pass --insecure (DCSM_INSECURE=1)`,
    );
  }
  return { value: auth };
}
