import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import type { KemWrite } from "../../../services/common/kem-record.ts";
import { createSqliteKemStore } from "../../../services/glm/store/sqlite-store.ts";
import { removeTempDirs, tempDir } from "../../helpers/temp-dir.ts";

afterAll(removeTempDirs);
const enc = new TextEncoder();

function kem(id: string, namespace: string, text = id): KemWrite {
  return { id, contentType: "text/plain", content: enc.encode(text), metadata: { namespace }, embedding: null };
}

describe("idempotency keys (docs/storage.md)", () => {
  test("are scoped by namespace: the same key in another namespace neither returns nor blocks the first one's KEM", async () => {
    const store = createSqliteKemStore({ path: join(tempDir(), "glm.sqlite") });
    const [a] = await store.upsertMany([kem("a-1", "a", "order for a")], ["order-1"]);
    const [b] = await store.upsertMany([kem("b-1", "b", "order for b")], ["order-1"]);
    expect(b!.id).toBe("b-1");
    expect(new TextDecoder().decode(b!.content)).toBe("order for b");
    // Retries in each namespace return that namespace's KEM.
    expect((await store.upsertMany([kem("a-2", "a")], ["order-1"]))[0]!.id).toBe(a!.id);
    expect((await store.upsertMany([kem("b-2", "b")], ["order-1"]))[0]!.id).toBe("b-1");
    expect((await store.getMany(["a-2", "b-2"])).length).toBe(0);
    await store.close();
  });

  test("a KEM moved to another namespace is no longer returned for the old namespace's key", async () => {
    const store = createSqliteKemStore({ path: join(tempDir(), "glm.sqlite") });
    await store.upsertMany([kem("m-1", "a")], ["k"]);
    await store.update("m-1", { metadata: { namespace: "b" } });
    expect((await store.upsertMany([kem("m-2", "a")], ["k"]))[0]!.id).toBe("m-2");
    await store.close();
  });

  test("the key of a deleted KEM can be used again, and one such item never fails its batch", async () => {
    const store = createSqliteKemStore({ path: join(tempDir(), "glm.sqlite") });
    await store.upsertMany([kem("d-1", "a")], ["reuse"]);
    expect(await store.delete("d-1")).toBe(true);
    const out = await store.upsertMany([kem("d-2", "a"), kem("d-3", "a")], ["reuse", "other"]);
    expect(out.map((r) => r.id)).toEqual(["d-2", "d-3"]);
    expect((await store.upsertMany([kem("d-4", "a")], ["reuse"]))[0]!.id).toBe("d-2");
    await store.close();
  });

  test("expire after their lifetime", async () => {
    const store = createSqliteKemStore({ path: join(tempDir(), "glm.sqlite"), idempotencyTtlMs: 50 });
    await store.upsertMany([kem("e-1", "a")], ["once"]);
    expect((await store.upsertMany([kem("e-2", "a")], ["once"]))[0]!.id).toBe("e-1");
    await Bun.sleep(80);
    expect((await store.upsertMany([kem("e-3", "a")], ["once"]))[0]!.id).toBe("e-3");
    await store.close();
  });
});
