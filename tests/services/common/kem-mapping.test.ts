/** Wire mapping of embeddings: `vectorToNumbers` keeps every float32 value exactly, in order. */
import { expect, test } from "bun:test";
import { recordToKem, vectorToNumbers } from "../../../services/common/kem-mapping.ts";

test("vectorToNumbers copies each float32 value exactly (-0, subnormals, extremes) into a plain array", () => {
  const v = Float32Array.of(0.1, -0, 1.401298464324817e-45, -3.4028234663852886e38, 1 / 3, 0);
  const out = vectorToNumbers(v);
  expect(Array.isArray(out)).toBe(true);
  expect(out.length).toBe(v.length);
  for (let i = 0; i < v.length; i++) expect(Object.is(out[i], v[i])).toBe(true);
  expect(vectorToNumbers(new Float32Array(0))).toEqual([]);
  const kem = recordToKem({
    id: "k",
    contentType: "text/plain",
    content: new Uint8Array([1]),
    metadata: {},
    embedding: v,
    createdAtUs: 1,
    updatedAtUs: 2,
  });
  expect(kem.embeddings).toEqual(Array.from(v));
});

test("normalizeVector gives the same unit vector for number[] and Float32Array input, and names the bad value", async () => {
  const { normalizeVector } = await import("../../../services/common/kem-mapping.ts");
  const typed = Float32Array.of(3, 0, 4);
  const fromNumbers = normalizeVector([3, 0, 4], 3, "e");
  const fromTyped = normalizeVector(typed, 3, "e");
  expect([...fromNumbers]).toEqual([Math.fround(0.6), 0, Math.fround(0.8)]);
  expect([...fromTyped]).toEqual([...fromNumbers]);
  expect(typed[0]).toBe(3); // input untouched
  expect(() => normalizeVector([1, Number.NaN, 0], 3, "e")).toThrow("e[1] is not a finite number");
  expect(() => normalizeVector(Float32Array.of(0, 0, Infinity), 3, "e")).toThrow("e[2] is not a finite number");
  expect(() => normalizeVector([0, 0, 0], 3, "e")).toThrow("e is a zero vector");
  expect(() => normalizeVector([1, 0], 3, "e")).toThrow("e has dimension 2 (expected 3)");
});
