import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, readdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { PreconditionError } from "../../../services/common/errors.ts";
import { loadModelProfile, PROFILE_FILE, queryEmbedderOf } from "../../../services/kps/embedder/model-profile.ts";
import { createTransformersEmbedder } from "../../../services/kps/embedder/transformers-embedder.ts";
import { removeTempDirs, tempDir } from "../../helpers/temp-dir.ts";

afterAll(removeTempDirs);
const MODEL = resolve(import.meta.dir, "../../../models/all-MiniLM-L6-v2");

/** A model folder with the committed model's files (linked) and the given profile. */
function modelWithProfile(profile: unknown): string {
  const dir = tempDir();
  const folder = join(dir, "minilm-profiled");
  mkdirSync(folder);
  for (const f of readdirSync(MODEL)) symlinkSync(join(MODEL, f), join(folder, f));
  writeFileSync(join(folder, PROFILE_FILE), JSON.stringify(profile));
  return dir;
}

const dot = (a: Float32Array, b: Float32Array) => a.reduce((s, x, i) => s + x * b[i]!, 0);

describe("model profiles (query instructions and pooling)", () => {
  test("the committed MiniLM folder has none: no prefixes, mean pooling", () => {
    expect(loadModelProfile(MODEL)).toEqual({ queryPrefix: "", documentPrefix: "", pooling: "mean" });
  });

  test("a folder's profile prefixes queries and switches pooling", async () => {
    const plain = await createTransformersEmbedder({
      modelId: "all-MiniLM-L6-v2",
      modelDir: resolve(MODEL, ".."),
      allowDownload: false,
    });
    const profiled = await createTransformersEmbedder({
      modelId: "minilm-profiled",
      modelDir: modelWithProfile({ queryPrefix: "query: ", pooling: "cls" }),
      allowDownload: false,
    });
    expect(profiled.profile).toEqual({ queryPrefix: "query: ", documentPrefix: "", pooling: "cls" });
    const [viaQuery] = await queryEmbedderOf(profiled).embed(["where is the lighthouse"]);
    const [byHand] = await profiled.embed(["query: where is the lighthouse"]);
    expect(dot(viaQuery!, byHand!)).toBeCloseTo(1, 5);
    // CLS pooling is a different vector from mean pooling of the same text.
    const [cls] = await profiled.embed(["where is the lighthouse"]);
    const [mean] = await plain.embed(["where is the lighthouse"]);
    expect(dot(cls!, mean!)).toBeLessThan(0.99);
    // Without a query prefix, the query side is the embedder itself.
    expect(queryEmbedderOf(plain)).toBe(plain);
    await plain.dispose();
    await profiled.dispose();
  });

  test("an invalid profile is refused with FailedPrecondition, naming the file", () => {
    const dir = modelWithProfile({ pooling: "max" });
    expect(() => loadModelProfile(join(dir, "minilm-profiled"))).toThrow(PreconditionError);
    expect(() => loadModelProfile(join(dir, "minilm-profiled"))).toThrow(
      /dcsm-model\.json is not a valid model profile: pooling/,
    );
  });
});
