/**
 * GLM's repository: keeps the SQLite store and the vector index consistent (docs/consistency.md),
 * and keeps a local index current with writes made by other processes sharing the same SQLite
 * file (docs/architecture.md "Process model").
 *
 * - Writes go to SQLite first (the source of truth), then to the index. When an external index
 *   (Qdrant) rejects the vectors, the rows are undone — new rows removed, replaced rows restored —
 *   and the items report the error.
 * - A local index (exact, HNSW) follows the store's change log: before every search, when the
 *   store's `dataVersion()` shows another connection committed (SQLite's `data_version`; on
 *   PostgreSQL, change-log entries another node appended), the changes since the last applied
 *   sequence number are read and applied. With PostgreSQL, `NOTIFY` also wakes the index between
 *   searches ({@link KemRepository.requestCatchUp}; docs/postgres.md).
 * - SQLITE_BUSY is retried with backoff beyond SQLite's own busy timeout.
 * @module
 */
import { BackendUnavailableError, type DcsmError, isSqliteBusy } from "../common/errors.ts";
import type { KemRecord, KemWrite } from "../common/kem-record.ts";
import type { KemPatch, KemStore, VectorEntry, VectorHit, VectorIndex, VectorSearchOptions } from "./ports.ts";

/** Options of {@link KemRepository}. */
export interface KemRepositoryOptions {
  /** Durable store. */
  store: KemStore;
  /** Vector index. */
  index: VectorIndex;
  /** Attempts on SQLITE_BUSY beyond the busy timeout. @default 5 */
  busyRetries?: number;
  /** Change-log entries kept for other processes to catch up from. @default 1000000 */
  changeLogKeep?: number;
  /** Logger for catch-up and undo events. */
  log?: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void };
}

/** Outcome of one item of a write: the stored record or the error that kept it out. */
export type WriteOutcome = { record: KemRecord } | { error: DcsmError };

/** The index entry of a stored record that has an embedding (with its row handle, when known). */
function entryOf(r: KemRecord, handle?: number): VectorEntry {
  return {
    id: r.id,
    vector: r.embedding!,
    handle,
    payload: { metadata: r.metadata, createdAtUs: r.createdAtUs, updatedAtUs: r.updatedAtUs },
  };
}

/**
 * Store + index coordination. Every method may throw `BackendUnavailableError` (→ `Unavailable`)
 * when SQLite stays busy; `update` throws `NotFoundError` for unknown ids.
 */
export class KemRepository {
  readonly store: KemStore;
  readonly index: VectorIndex;
  private readonly busyRetries: number;
  private readonly changeLogKeep: number;
  private readonly log?: KemRepositoryOptions["log"];
  /** Highest change-log sequence number reflected in the index. */
  private appliedSeq = 0;
  private dataVersion = 0;
  private writesSincePrune = 0;
  /** Index-position updates (catch-up runs, own writes) run one at a time, in call order. */
  private positionQueue: Promise<void> = Promise.resolve();
  /** A catch-up run queued but not started yet, shared by the callers arriving meanwhile. */
  private queuedCatchUp: Promise<void> | null = null;
  private waking: Promise<void> | null = null;
  private wakeAgain = false;

  constructor(options: KemRepositoryOptions) {
    this.store = options.store;
    this.index = options.index;
    this.busyRetries = options.busyRetries ?? 5;
    this.changeLogKeep = options.changeLogKeep ?? 1_000_000;
    this.log = options.log;
  }

  /**
   * Loads every stored embedding into a local index (an index restored from a snapshot keeps its
   * graph and only catches up on later changes); an external index (Qdrant) is left as it is.
   * Call once before serving.
   */
  async open(): Promise<void> {
    this.dataVersion = await this.store.dataVersion();
    if (this.index.external) {
      this.appliedSeq = await this.store.latestChangeSeq();
      return;
    }
    await this.load();
    this.dataVersion = -1;
    await this.catchUp();
  }

  /** Streams every stored embedding into the local index and sets the applied position. */
  private async load(): Promise<void> {
    const latest = await this.store.latestChangeSeq();
    const snap = await this.index.snapshotPosition?.();
    const usable = snap !== undefined && snap >= (await this.store.oldestChangeSeq()) - 1 && snap <= latest;
    if (snap !== undefined && !usable) {
      this.log?.warn({ snapshot: snap, latest }, "vector index snapshot is older than the change log; rebuilding");
      await this.index.clear();
    }
    const load = (entries: VectorEntry[]) => (this.index.load ? this.index.load(entries) : this.index.upsert(entries));
    let batch: VectorEntry[] = [];
    const pending: Promise<void>[] = [];
    await this.store.forEachEmbedding((id, vector, handle) => {
      batch.push({ id, vector, handle });
      if (batch.length >= 4096) {
        pending.push(load(batch));
        batch = [];
      }
    });
    pending.push(load(batch));
    await Promise.all(pending);
    await this.index.loadDone?.();
    // `latest` was read before the rows: writes that landed meanwhile are re-applied by catch-up.
    this.appliedSeq = usable ? snap : latest;
    this.index.notePosition?.(this.appliedSeq);
  }

  /** The change-log position the index reflects (saved with index snapshots). */
  get position(): number {
    return this.appliedSeq;
  }

  /**
   * Index entries of stored records; a local index also gets their row handles when the store
   * has them (read after the write: a row keeps its handle for its whole life).
   */
  private async entriesOf(records: KemRecord[]): Promise<VectorEntry[]> {
    if (records.length === 0 || this.index.external || !this.store.handlesOf) return records.map((r) => entryOf(r));
    const handles = await this.store.handlesOf(records.map((r) => r.id));
    return records.map((r, i) => entryOf(r, handles[i]! >= 0 ? handles[i] : undefined));
  }

  private async withBusyRetry<T>(fn: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        if (!isSqliteBusy(err)) throw err;
        if (attempt >= this.busyRetries)
          throw new BackendUnavailableError("the store is busy (locked by another process); retry later", {
            cause: err,
          });
        await Bun.sleep(10 * 2 ** attempt + Math.random() * 10);
      }
    }
  }

  /** After an own write: advance the applied position, or catch up if others wrote too. */
  private async afterOwnWrite(): Promise<void> {
    if (this.index.external) return;
    await this.serialized(async () => {
      // Read the log head first: if another connection commits after it, the data version (read
      // second) shows it and we catch up instead of skipping that change. Serialized with
      // catch-up runs: a run between the two reads could otherwise apply the version we compare
      // against and let us skip what it had not yet read.
      const latest = await this.store.latestChangeSeq();
      const v = await this.store.dataVersion();
      if (v === this.dataVersion) {
        this.appliedSeq = Math.max(this.appliedSeq, latest);
        this.index.notePosition?.(this.appliedSeq);
      } else await this.applyChanges(v);
    });
    if (++this.writesSincePrune >= 10_000) {
      this.writesSincePrune = 0;
      await this.store.pruneChanges(this.changeLogKeep);
    }
  }

  /** Runs `fn` after every index-position update queued before it (catch-up runs, own writes). */
  private serialized<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.positionQueue.then(fn, fn);
    this.positionQueue = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  /**
   * Applies writes made by other connections to the local index. Cheap when nothing changed
   * (one data-version read). Each caller gets a run that starts after its call (a run already
   * under way may have read the change log too early for it); callers arriving before that run
   * starts share it.
   */
  async catchUp(): Promise<void> {
    if (this.index.external) return;
    if (!this.queuedCatchUp) {
      const run = this.serialized(async () => {
        this.queuedCatchUp = null;
        await this.catchUpOnce();
      });
      this.queuedCatchUp = run;
    }
    return this.queuedCatchUp;
  }

  /** One catch-up run: reads the store's position and applies what this index lacks. */
  private async catchUpOnce(): Promise<void> {
    const v = await this.store.dataVersion();
    if (v === this.dataVersion && this.appliedSeq === (await this.store.latestChangeSeq())) return;
    await this.applyChanges(v);
  }

  /**
   * Catches up in the background, now: called when the store signals another node's commit
   * (PostgreSQL `NOTIFY`), so the local index follows without waiting for the next search. Calls
   * during a run schedule one more run after it (a commit seen late is never left behind);
   * failures are logged and retried by the next call or search.
   */
  requestCatchUp(): void {
    if (this.index.external) return;
    if (this.waking) {
      this.wakeAgain = true;
      return;
    }
    this.waking = (async () => {
      do {
        this.wakeAgain = false;
        try {
          await this.catchUp();
        } catch (err) {
          this.log?.warn({ err }, "catching up from the change log failed; retried on the next change or search");
        }
      } while (this.wakeAgain);
    })().finally(() => {
      this.waking = null;
    });
  }

  private async applyChanges(dataVersion: number): Promise<void> {
    this.dataVersion = dataVersion;
    if (this.appliedSeq < (await this.store.oldestChangeSeq()) - 1) {
      this.log?.warn(
        { appliedSeq: this.appliedSeq },
        "change log no longer reaches the index position; reloading every vector",
      );
      await this.index.clear();
      await this.load();
      return;
    }
    for (;;) {
      const changes = await this.store.changesSince(this.appliedSeq, 5000);
      if (changes.length === 0) break;
      const ids = [...new Set(changes.map((c) => c.id))];
      const present = await this.store.getMany(ids);
      const withVec = present.filter((r) => r.embedding);
      const keep = new Set(withVec.map((r) => r.id));
      await this.index.upsert(await this.entriesOf(withVec));
      await this.index.remove(ids.filter((id) => !keep.has(id)));
      this.appliedSeq = changes[changes.length - 1]!.seq;
      this.index.notePosition?.(this.appliedSeq);
    }
  }

  /**
   * Upserts records (one SQLite transaction), then their vectors. Items whose vectors an external
   * index rejects are undone and returned as errors (`Unavailable`).
   * @returns one outcome per item, in order.
   */
  async write(items: KemWrite[], keys?: (string | undefined)[]): Promise<WriteOutcome[]> {
    const before = this.index.external
      ? new Map((await this.store.getMany(items.map((i) => i.id))).map((r) => [r.id, r]))
      : undefined;
    const stored = await this.withBusyRetry(() => this.store.upsertMany(items, keys));
    try {
      await this.index.upsert(await this.entriesOf(stored.filter((r) => r.embedding)));
      await this.index.remove(stored.filter((r) => !r.embedding).map((r) => r.id));
    } catch (err) {
      if (!before) throw err;
      const restore = stored.map((r) => before.get(r.id)).filter((r): r is KemRecord => r !== undefined);
      const remove = stored.filter((r) => !before.has(r.id)).map((r) => r.id);
      await this.withBusyRetry(() => this.store.restore(restore, remove));
      this.log?.warn({ err, items: stored.length }, "vector index rejected a batch; rows undone");
      const error = new BackendUnavailableError(
        `vector index unavailable; item not stored: ${(err as Error).message}`,
        { cause: err },
      );
      return stored.map(() => ({ error }));
    }
    await this.afterOwnWrite();
    return stored.map((record) => ({ record }));
  }

  /** Applies a patch and mirrors a changed embedding into the index (undone if it fails). */
  async update(id: string, patch: KemPatch): Promise<KemRecord> {
    // An external index filters on metadata and dates too, so it needs every update.
    const touchesIndex = patch.embedding !== undefined || this.index.external;
    const before = this.index.external ? (await this.store.getMany([id]))[0] : undefined;
    const rec = await this.withBusyRetry(() => this.store.update(id, patch));
    if (touchesIndex) {
      try {
        if (rec.embedding) await this.index.upsert(await this.entriesOf([rec]));
        else await this.index.remove([id]);
      } catch (err) {
        if (before) await this.withBusyRetry(() => this.store.restore([before], []));
        throw new BackendUnavailableError(`vector index unavailable; update not applied: ${(err as Error).message}`, {
          cause: err,
        });
      }
    }
    await this.afterOwnWrite();
    return rec;
  }

  /** Deletes a KEM: vector first (so a failure leaves both in place), then the row. @returns false when unknown. */
  async delete(id: string): Promise<boolean> {
    if ((await this.store.getMany([id])).length === 0) return false;
    await this.index.remove([id]);
    const gone = await this.withBusyRetry(() => this.store.delete(id));
    await this.afterOwnWrite();
    return gone;
  }

  /** Vector search after catching up with other processes' writes. */
  async search(query: Float32Array, k: number, options?: VectorSearchOptions): Promise<VectorHit[]> {
    await this.catchUp();
    return this.index.search(query, k, options);
  }
}
