/**
 * The test helper `waitFor`: it returns the condition's first truthy value, and fails naming
 * what it waited for when the timeout passes first.
 */
import { expect, test } from "bun:test";
import { waitFor } from "./wait-for.ts";

test("returns the first truthy value, after as many checks as it takes", async () => {
  let calls = 0;
  const value = await waitFor(async () => (++calls >= 3 ? `after ${calls}` : undefined), { intervalMs: 1 });
  expect(value).toBe("after 3");
  expect(calls).toBe(3);
});

test("fails after the timeout, naming what it waited for and the last value", async () => {
  const t0 = performance.now();
  const err = await waitFor(() => 0, { timeoutMs: 50, intervalMs: 5, what: "a counter above zero" }).catch(
    (e: Error) => e,
  );
  expect(performance.now() - t0).toBeGreaterThanOrEqual(45);
  expect((err as Error).message).toBe("waitFor: a counter above zero not met within 50 ms (last value: 0)");
});

test("an error thrown by the condition ends the wait at once", async () => {
  const err = await waitFor(() => {
    throw new Error("broken probe");
  }).catch((e: Error) => e);
  expect((err as Error).message).toBe("broken probe");
});
