/** Wire mapping of embeddings: `vectorToNumbers` keeps every float32 value exactly, in order. */
import { expect, test } from "bun:test";
import { recordToKem, vectorToNumbers } from "../../../services/shared/kem-mapping.ts";

test("vectorToNumbers copies each float32 value exactly (-0, subnormals, extremes) into a plain array", () => {
  const v = Float32Array.of(0.1, -0, 1.401298464324817e-45, -3.4028234663852886e38, 1 / 3, 0);
  const out = vectorToNumbers(v);
  expect(Array.isArray(out)).toBe(true);
  expect(out.length).toBe(v.length);
  for (let i = 0; i < v.length; i++) expect(Object.is(out[i], v[i])).toBe(true);
  expect(vectorToNumbers(new Float32Array(0))).toEqual([]);
  const kem = recordToKem({ id: "k", contentType: "text/plain", content: new Uint8Array([1]), metadata: {}, embedding: v, createdAtUs: 1, updatedAtUs: 2 });
  expect(kem.embeddings).toEqual(Array.from(v));
});
