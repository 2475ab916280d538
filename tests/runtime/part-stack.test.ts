/** The part stack's teardown order and error handling, over parts that record what happens to them. */
import { expect, test } from "bun:test";
import { createLogger } from "../../runtime/logger.ts";
import { PartStack } from "../../runtime/parts/part-stack.ts";

function recorder() {
  const events: string[] = [];
  const part =
    (name: string, opts: { failStop?: boolean; drainMs?: number } = {}) =>
    () => ({
      value: name,
      drain: async () => {
        events.push(`drain ${name}`);
        if (opts.drainMs) await Bun.sleep(opts.drainMs);
        events.push(`drained ${name}`);
      },
      stop: async () => {
        events.push(`stop ${name}`);
        if (opts.failStop) throw new Error(`stop of ${name} failed`);
      },
    });
  return { events, part };
}

test("teardown drains every part before stopping any, then stops in reverse start order", async () => {
  const { events, part } = recorder();
  const parts = new PartStack(createLogger("silent"));
  await parts.start("a", part("a"));
  await parts.start("b", part("b", { drainMs: 20 }));
  await parts.start("c", part("c"));
  await parts.stopAll();
  const firstStop = events.findIndex((e) => e.startsWith("stop"));
  expect(events.slice(0, firstStop).filter((e) => e.startsWith("drained")).length).toBe(3);
  expect(events.filter((e) => e.startsWith("stop"))).toEqual(["stop c", "stop b", "stop a"]);
});

test("a failing stop does not keep the others from stopping; its error is rethrown after all ran", async () => {
  const { events, part } = recorder();
  const parts = new PartStack(createLogger("silent"));
  await parts.start("a", part("a"));
  await parts.start("b", part("b", { failStop: true }));
  await parts.start("c", part("c"));
  await expect(parts.stopAll()).rejects.toThrow("stop of b failed");
  expect(events.filter((e) => e.startsWith("stop"))).toEqual(["stop c", "stop b", "stop a"]);
});

test("a part whose start throws is not recorded; stopAll twice runs one teardown; no start after it", async () => {
  const { events, part } = recorder();
  const parts = new PartStack(createLogger("silent"));
  await parts.start("a", part("a"));
  await expect(parts.start("b", () => Promise.reject(new Error("b cannot start")))).rejects.toThrow("b cannot start");
  expect(parts.names()).toEqual(["a"]);
  await Promise.all([parts.stopAll(), parts.stopAll()]);
  expect(events.filter((e) => e.startsWith("stop"))).toEqual(["stop a"]);
  await expect(parts.start("c", part("c"))).rejects.toThrow("the server is stopping");
});
