import { describe, expect, test } from "bun:test";
import { payloadOf, pointIdOf, toQdrantFilter } from "../../../services/glm/vector/qdrant-filter.ts";

describe("KEMQuery → Qdrant filter translation (docs/storage.md)", () => {
  test("the documented example: metadata equalities and a created_at lower bound", () => {
    const from = Date.UTC(2023, 0, 1) * 1000;
    expect(toQdrantFilter({ metadata: { source: "manual", topic: "AI" }, createdFromUs: from })).toEqual({
      must: [
        { key: "md_source", match: { value: "manual" } },
        { key: "md_topic", match: { value: "AI" } },
        { key: "created_at_ts", range: { gte: 1672531200 } },
      ],
    });
  });

  test("typed values, both bounds on both dates (widened to whole seconds), ids as point ids", () => {
    const f = toQdrantFilter({
      ids: ["0190a4b2-7c3e-7a10-8000-000000000001", "doc-1"],
      metadata: { n: 3, ok: false },
      createdFromUs: 1_700_000_000_500_000,
      createdToUs: 1_700_000_100_250_000,
      updatedToUs: 1_700_000_200_000_000,
    });
    expect(f).toEqual({
      must: [
        { has_id: ["0190a4b2-7c3e-7a10-8000-000000000001", pointIdOf("doc-1")] },
        { key: "md_n", match: { value: 3 } },
        { key: "md_ok", match: { value: false } },
        { key: "created_at_ts", range: { gte: 1_700_000_000, lte: 1_700_000_101 } },
        { key: "updated_at_ts", range: { lte: 1_700_000_200 } },
      ],
    });
  });

  test("an empty filter is no filter", () => {
    expect(toQdrantFilter({})).toBeUndefined();
    expect(toQdrantFilter(undefined)).toBeUndefined();
  });

  test("point ids: UUIDs kept (lower-cased), other ids mapped to a stable UUIDv5", () => {
    expect(pointIdOf("0190A4B2-7C3E-7A10-8000-000000000001")).toBe("0190a4b2-7c3e-7a10-8000-000000000001");
    const a = pointIdOf("doc-1");
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(pointIdOf("doc-1")).toBe(a);
    expect(pointIdOf("doc-2")).not.toBe(a);
  });

  test("payload layout: kem_id_ref, md_<key>, *_ts in seconds", () => {
    expect(
      payloadOf("k1", { source: "web", n: 2, nested: { a: 1 } }, 1_700_000_000_999_999, 1_700_000_005_000_000),
    ).toEqual({
      kem_id_ref: "k1",
      md_source: "web",
      md_n: 2,
      md_nested: { a: 1 },
      created_at_ts: 1_700_000_000,
      updated_at_ts: 1_700_000_005,
    });
  });
});
