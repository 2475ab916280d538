import { describe, expect, test } from "bun:test";
import { ConfigError, loadConfig } from "../../runtime/config.ts";

describe("PostgreSQL configuration", () => {
  test("defaults to the embedded SQLite store", () => {
    const c = loadConfig({});
    expect([c.postgresUrl, c.postgresPool]).toEqual(["", 10]);
  });

  test("DCSM_POSTGRES_URL and DCSM_POSTGRES_POOL are read from the environment", () => {
    const c = loadConfig({ DCSM_POSTGRES_URL: "postgres://dcsm:secret@db:5432/dcsm", DCSM_POSTGRES_POOL: "25" });
    expect([c.postgresUrl, c.postgresPool]).toEqual(["postgres://dcsm:secret@db:5432/dcsm", 25]);
    expect(loadConfig({ DCSM_POSTGRES_URL: "postgresql://db/dcsm" }).postgresUrl).toBe("postgresql://db/dcsm");
  });

  test("bad values fail with the variable named", () => {
    for (const [name, value] of [
      ["DCSM_POSTGRES_URL", "mysql://db/x"],
      ["DCSM_POSTGRES_POOL", "0"],
      ["DCSM_POSTGRES_POOL", "many"],
    ] as const) {
      expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
      expect(() => loadConfig({ [name]: value })).toThrow(name);
    }
  });
});
