/**
 * Removal of deleted files' KEMs: lists every KEM of an ingested folder through GLM
 * `RetrieveKEMs` with the metadata filter `source_root` (equality, all pages), and deletes with
 * `DeleteKEM` those whose `source_path` is no longer among the folder's files.
 * @module
 */
import { Code, ConnectError } from "@connectrpc/connect";
import type { DcsmClients } from "./clients.ts";

/** What {@link pruneDeletedFiles} removed. */
export interface PruneReport {
  /** Distinct files whose KEMs were removed. */
  files: number;
  /** KEMs removed. */
  kems: number;
}

/**
 * Deletes the KEMs of files gone from `root`.
 * @param clients - DCSM clients.
 * @param root - absolute folder path, as stored in `source_root` by `dcsm ingest`.
 * @param present - `source_path`s that still exist under it.
 * @throws ConnectError from GLM (`Unavailable` when it is down); a KEM deleted meanwhile (`NotFound`) is not an error.
 */
export async function pruneDeletedFiles(
  clients: DcsmClients,
  root: string,
  present: Set<string>,
): Promise<PruneReport> {
  const gone = new Map<string, string[]>();
  let pageToken = "";
  do {
    const res = await clients.glm.retrieveKEMs({
      query: { metadataFilters: { source_root: { kind: { case: "stringValue", value: root } } } },
      pageSize: 1000,
      pageToken,
    });
    for (const kem of res.kems) {
      const path = kem.metadata?.source_path;
      if (typeof path === "string" && !present.has(path)) gone.set(path, [...(gone.get(path) ?? []), kem.id]);
    }
    pageToken = res.nextPageToken;
  } while (pageToken);
  let kems = 0;
  for (const ids of gone.values()) {
    for (const id of ids) {
      try {
        await clients.glm.deleteKEM({ kemId: id });
        kems++;
      } catch (err) {
        if (!(err instanceof ConnectError && err.code === Code.NotFound)) throw err;
      }
    }
  }
  return { files: gone.size, kems };
}
