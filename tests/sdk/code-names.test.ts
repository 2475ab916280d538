/**
 * Connect code names: the protocol's snake_case spellings, both directions, for every `Code`.
 */
import { describe, expect, test } from "bun:test";
import { Code } from "@connectrpc/connect";
import { codeFromName, codeName } from "../../sdk/code-names.ts";

describe("code names", () => {
  test("spell codes as the Connect protocol does", () => {
    expect(codeName(Code.InvalidArgument)).toBe("invalid_argument");
    expect(codeName(Code.Canceled)).toBe("canceled");
    expect(codeName(Code.DeadlineExceeded)).toBe("deadline_exceeded");
    expect(codeName(Code.Unauthenticated)).toBe("unauthenticated");
  });

  test("every code round-trips through its name", () => {
    const codes = Object.values(Code).filter((c): c is Code => typeof c === "number");
    expect(codes.length).toBe(16);
    for (const c of codes) expect(codeFromName(codeName(c))).toBe(c);
  });

  test("a number that is no code is unknown, and so is a name that is none", () => {
    expect(codeName(99 as Code)).toBe("unknown");
    expect(codeFromName("InvalidArgument")).toBe(Code.Unknown);
    expect(codeFromName("")).toBe(Code.Unknown);
  });
});
