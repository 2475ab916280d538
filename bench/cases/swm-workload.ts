/**
 * The SWM workload the SWM benchmark cases share (swm.ts, swm-write-behind.ts, rpc-overhead.ts):
 * ~200-byte text KEMs with a `topic` metadata key, fresh ids, an in-process SWM service (the
 * handler an RPC reaches, without transport), and runs of publishes and by-id queries with a given
 * number of calls in flight.
 * @module
 */
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { createHandlerContext } from "@connectrpc/connect";
import {
  PublishKEMToSWMRequestSchema,
  QuerySWMRequestSchema,
  SharedWorkingMemoryService,
} from "../../sdk/gen/dcsm/v1/swm_service_pb.ts";
import { DEFAULT_KEM_LIMITS } from "../../services/common/limits.ts";
import type { SwmBackend } from "../../services/swm/backends.ts";
import { createSwmService } from "../../services/swm/service.ts";
import { pool, type Sample } from "../lib/measure.ts";

/** Calls in flight for the concurrent cases. */
export const IN_FLIGHT = 64;
/** Content of every benchmark KEM: 200 bytes of text. */
export const CONTENT = new TextEncoder().encode(
  "A short working-memory note of about two hundred bytes, the size agents exchange while they coordinate on a task. "
    .repeat(2)
    .slice(0, 200),
);
let idSeq = 0;
/** `n` fresh ids tagged `tag`. */
export const nextIds = (n: number, tag: string) => Array.from({ length: n }, () => `${tag}-${(idSeq++).toString(36)}`);
/** Metadata of the `i`-th KEM: an indexed `topic` (10 values) and a number. */
export const metaOf = (i: number) => ({ topic: `t${i % 10}`, n: i });

/** A publish request's init shape. */
export type PublishInit = MessageInitShape<typeof PublishKEMToSWMRequestSchema>;
/** The publish request of KEM `id`, the `i`-th of its run. */
export const publishInit = (id: string, i: number): PublishInit => ({
  agentId: "bench",
  kemToPublish: { id, contentType: "text/plain", content: CONTENT, metadata: metaOf(i) },
});

/** A handler context for calling `publishKEMToSWM` on a service implementation in process (no transport). */
export function publishContext() {
  return createHandlerContext({
    service: SharedWorkingMemoryService,
    method: SharedWorkingMemoryService.method.publishKEMToSWM,
    protocolName: "in-process",
    requestMethod: "POST",
    url: "http://localhost/",
  });
}

/** The SWM service on `backend`, called in process: publish and by-id query. */
export function inProcessService(backend: SwmBackend) {
  const impl = createSwmService({ ...backend, limits: DEFAULT_KEM_LIMITS });
  const ctx = publishContext();
  return {
    publish: (init: PublishInit) =>
      impl.publishKEMToSWM!(create(PublishKEMToSWMRequestSchema, init), ctx) as Promise<unknown>,
    query: (id: string) =>
      impl.querySWM!(create(QuerySWMRequestSchema, { query: { ids: [id] }, pageSize: 1 }), ctx) as Promise<{
        kems: unknown[];
      }>,
  };
}

/** Publishes `n` new KEMs with `inFlight` calls outstanding, through `publish`. */
export function publishRun(
  n: number,
  inFlight: number,
  tag: string,
  publish: (init: PublishInit) => Promise<unknown>,
  published?: string[],
): () => Promise<Sample> {
  return async () => {
    const ids = nextIds(n, tag);
    published?.push(...ids.slice(0, 1000));
    return pool(n, inFlight, (i) => publish(publishInit(ids[i]!, i)));
  };
}

/** Queries `n` KEMs by id (ids from `ids`, cycled) with `inFlight` calls outstanding. */
export function queryRun(
  n: number,
  inFlight: number,
  ids: string[],
  query: (id: string) => Promise<{ kems: unknown[] }>,
): () => Promise<Sample> {
  return () =>
    pool(n, inFlight, async (i) => {
      const r = await query(ids[(i * 7919) % ids.length]!);
      if (r.kems.length !== 1) throw new Error("query by id missed");
    });
}
