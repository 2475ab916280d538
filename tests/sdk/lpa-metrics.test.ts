/** LPA metrics: LocalAgentMemory counts get() hits and misses, and renders them as Prometheus text. */

import { expect, test } from "bun:test";
import { create } from "@bufbuild/protobuf";
import { KEMSchema, LocalAgentMemory } from "../../sdk/index.ts";
import { formatLpaMetrics } from "../../sdk/lpa-metrics.ts";
import { parseMetrics, value } from "../helpers/prometheus.ts";

test("get() counts hits and misses; peek/has/query do not; resetStats zeroes them", () => {
  const lpa = new LocalAgentMemory({ maxEntries: 5 });
  expect(lpa.stats()).toEqual({ entries: 0, maxEntries: 5, hits: 0, misses: 0, hitRatio: 0 });
  lpa.put(create(KEMSchema, { id: "a" }));
  lpa.get("a");
  lpa.get("a");
  lpa.get("b");
  lpa.peek("b");
  lpa.has("b");
  lpa.query({ ids: ["a", "b"] });
  expect(lpa.stats()).toEqual({ entries: 1, maxEntries: 5, hits: 2, misses: 1, hitRatio: 2 / 3 });
  lpa.resetStats();
  expect(lpa.stats()).toMatchObject({ hits: 0, misses: 0, hitRatio: 0, entries: 1 });
});

test("formatLpaMetrics renders valid exposition text with escaped constant labels", () => {
  const text = formatLpaMetrics(
    { entries: 3, maxEntries: 10, hits: 6, misses: 2, hitRatio: 0.75 },
    { agent_id: 'a "b"\\c\nd' },
  );
  expect(text.endsWith("\n")).toBe(true);
  expect(text).toContain("# TYPE dcsm_lpa_lookups_total counter");
  const s = parseMetrics(text);
  const agent = { agent_id: 'a "b"\\c\nd' };
  expect(value(s, "dcsm_lpa_lookups_total", { ...agent, result: "hit" })).toBe(6);
  expect(value(s, "dcsm_lpa_lookups_total", { ...agent, result: "miss" })).toBe(2);
  expect(value(s, "dcsm_lpa_hit_ratio", agent)).toBe(0.75);
  expect(value(s, "dcsm_lpa_entries", agent)).toBe(3);
  expect(value(s, "dcsm_lpa_capacity", agent)).toBe(10);
  expect(
    parseMetrics(formatLpaMetrics({ entries: 0, maxEntries: 1, hits: 0, misses: 0, hitRatio: 0 })).get(
      "dcsm_lpa_hit_ratio",
    ),
  ).toBe(0);
  for (const bad of ["1x", "with-dash", "result", "__reserved"])
    expect(() =>
      formatLpaMetrics({ entries: 0, maxEntries: 1, hits: 0, misses: 0, hitRatio: 0 }, { [bad]: "v" }),
    ).toThrow(TypeError);
});
