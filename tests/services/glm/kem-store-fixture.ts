/**
 * Shared pieces of the {@link KemStore} contract suites (`kem-store-contract.ts`,
 * `kem-store-index-contract.ts`): the backend interface each backend's test file implements, fresh
 * stores that are closed after each test, and record helpers.
 */
import { afterEach } from "bun:test";
import type { KemRecord, KemWrite } from "../../../services/common/kem-record.ts";
import type { KemStore } from "../../../services/glm/ports.ts";

/** Options a backend passes to its store. */
export interface ContractStoreOptions {
  idempotencyTtlMs?: number;
}

/** A fresh, empty backing store (a file, a database) that instances can be opened on. */
export interface ContractBacking {
  /** Opens one more store instance on this backing (instances share data, like processes). */
  open(options?: ContractStoreOptions): Promise<KemStore>;
}

/** A backend under test. */
export interface ContractBackend {
  /** Backend name, e.g. "SQLite". */
  name: string;
  /** Creates a fresh backing. */
  create(): Promise<ContractBacking>;
}

export const enc = new TextEncoder();
export const dec = new TextDecoder();

/** A text KEM write with the given metadata, embedding and text. */
export function write(
  id: string,
  metadata: Record<string, unknown> = {},
  embedding: Float32Array | null = null,
  text = `content of ${id}`,
  contentType = "text/plain",
): KemWrite {
  return { id, contentType, content: enc.encode(text), metadata: metadata as KemWrite["metadata"], embedding };
}

/** The ids of records, in order. */
export const ids = (rs: { id: string }[]) => rs.map((r) => r.id);

/** Every page of `find` with page size `size`, concatenated. */
export async function allPages(
  store: KemStore,
  filter: Parameters<KemStore["find"]>[0],
  size: number,
): Promise<KemRecord[]> {
  const out: KemRecord[] = [];
  let after: { updatedAtUs: number; id: string } | undefined;
  for (;;) {
    const page = await store.find(filter, size, after);
    out.push(...page);
    if (page.length < size) return out;
    const last = page[page.length - 1]!;
    after = { updatedAtUs: last.updatedAtUs, id: last.id };
  }
}

/**
 * Fresh stores for the tests of one `describe` block: `fresh()` creates a backing and opens a
 * store on it (and more instances through the returned backing); all are closed after each test.
 * Call inside `describe`.
 */
export function freshStores(
  backend: ContractBackend,
): (options?: ContractStoreOptions) => Promise<{ store: KemStore; backing: ContractBacking }> {
  const opened: KemStore[] = [];
  async function fresh(options?: ContractStoreOptions): Promise<{ store: KemStore; backing: ContractBacking }> {
    const backing = await backend.create();
    const store = await backing.open(options);
    opened.push(store);
    return {
      store,
      backing: {
        async open(o) {
          const s = await backing.open(o);
          opened.push(s);
          return s;
        },
      },
    };
  }
  afterEach(async () => {
    for (const s of opened.splice(0)) await s.close();
  });
  return fresh;
}
