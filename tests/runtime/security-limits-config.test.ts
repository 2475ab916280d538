/**
 * The security and overload limits are read from their environment variables, default as
 * documented in README.md, and refuse values below 1 with the variable's name.
 */
import { describe, expect, test } from "bun:test";
import { ConfigError, loadConfig } from "../../runtime/config.ts";

const LIMITS = {
  DCSM_MAX_IN_FLIGHT: ["maxInFlight", 1024],
  DCSM_MAX_IN_FLIGHT_PER_PRINCIPAL: ["maxInFlightPerPrincipal", 256],
  DCSM_RETRY_AFTER_SECONDS: ["retryAfterSeconds", 1],
  DCSM_GRPC_MAX_CONNECTIONS: ["grpcMaxConnections", 1024],
  DCSM_GRPC_HANDSHAKE_TIMEOUT_MS: ["grpcHandshakeTimeoutMs", 10_000],
  DCSM_GRPC_IDLE_TIMEOUT_MS: ["grpcIdleTimeoutMs", 300_000],
  DCSM_HEALTH_MAX_WATCHERS: ["healthMaxWatchers", 64],
  DCSM_SWM_MAX_SUBSCRIBERS_PER_PRINCIPAL: ["swmMaxSubscribersPerPrincipal", 100],
  DCSM_SWM_EVENT_HISTORY_BYTES: ["swmEventHistoryBytes", 64 * 1024 * 1024],
} as const;

describe("security and overload limits in the configuration", () => {
  test("defaults", () => {
    const config = loadConfig({});
    for (const [key, value] of Object.values(LIMITS)) expect(config[key]).toBe(value);
  });

  test("each is set by its environment variable and rejects 0 naming the variable", () => {
    for (const [name, [key]] of Object.entries(LIMITS)) {
      expect(loadConfig({ [name]: "7" })[key]).toBe(7);
      expect(() => loadConfig({ [name]: "0" })).toThrow(ConfigError);
      expect(() => loadConfig({ [name]: "0" })).toThrow(name);
    }
  });

  test("DCSM_ADMISSION_LAG_MS: off (0) by default, set in ms, negative or fractional values refused naming the variable", () => {
    expect(loadConfig({}).admissionLagMs).toBe(0);
    expect(loadConfig({ DCSM_ADMISSION_LAG_MS: "25" }).admissionLagMs).toBe(25);
    for (const bad of ["-1", "2.5", "x"])
      expect(() => loadConfig({ DCSM_ADMISSION_LAG_MS: bad })).toThrow("DCSM_ADMISSION_LAG_MS");
  });
});
