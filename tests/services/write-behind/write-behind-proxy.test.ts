/**
 * SWM write-behind to a remote GLM whose network path breaks: GLM runs behind
 * a TCP proxy; the proxy cuts every open connection mid-stream and then resets new ones (connect
 * errors surface as `Aborted`/`Internal`, not only `Unavailable`). KEMs published with the persist
 * flag meanwhile stay queued in the SQLite queue, survive a kill -9 of the SWM process, and land
 * in GLM exactly once when the path is back. (durability.test.ts covers a GLM that is not
 * listening at all.)
 */

import { Database } from "bun:sqlite";
import { afterAll, expect, test } from "bun:test";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { SharedWorkingMemoryService } from "../../../sdk/gen/dcsm/v1/swm_service_pb.ts";
import { createTestGlm } from "../../helpers/glm.ts";
import { startTcpProxy } from "../../helpers/tcp-proxy.ts";
import { removeTempDirs, tempDir } from "../../helpers/temp-dir.ts";
import { type SwmProcess, startSwmProcess } from "../swm/process.ts";
import { waitFor } from "../swm/working-set-contract.ts";

const procs: SwmProcess[] = [];
afterAll(() => {
  for (const p of procs) p.proc.kill(9);
  removeTempDirs();
});
const enc = new TextEncoder();

function glmRows(path: string): { total: number; rewritten: number } {
  const db = new Database(path, { readonly: true });
  try {
    const rows = db.query<{ c: string; u: string }, []>("SELECT created_at AS c, updated_at AS u FROM kems").all();
    return { total: rows.length, rewritten: rows.filter((r) => r.c !== r.u).length };
  } finally {
    db.close();
  }
}

test("connections to GLM cut mid-stream: queued KEMs survive kill -9 and land in GLM once the path is back", async () => {
  const glm = createTestGlm(tempDir());
  const served = glm.serve(0);
  const proxy = await startTcpProxy(served.port);
  const env = {
    DCSM_DATA_DIR: tempDir(),
    DCSM_GLM_URL: proxy.url,
    DCSM_SWM_WRITE_BEHIND_DELAY_MS: "20",
    DCSM_SWM_WRITE_BEHIND_BATCH: "25",
    DCSM_SWM_CLAIM_IDLE_MS: "1000",
  };
  try {
    const s1 = await startSwmProcess(env);
    procs.push(s1);
    const swm = createClient(
      SharedWorkingMemoryService,
      createConnectTransport({ baseUrl: s1.url, httpVersion: "1.1", useBinaryFormat: true }),
    );
    const publish = async (from: number, to: number) => {
      for (let i = from; i < to; i++) {
        const res = await swm.publishKEMToSWM({
          kemToPublish: { id: `cut-${i}`, content: enc.encode(`kem ${i}`) },
          persistToGlmIfNewOrUpdated: true,
        });
        expect(res.queuedForGlmPersistence).toBe(true);
      }
    };
    await publish(0, 100);
    await waitFor(() => glmRows(glm.path).total > 0, 10_000, "first KEMs in GLM");
    proxy.drop(true); // cut what is open, reset what comes
    const cutAt = glmRows(glm.path).total;
    await publish(100, 300);
    await Bun.sleep(500);
    const queued = (await s1.stats()).depth;
    expect(queued).toBeGreaterThanOrEqual(300 - glmRows(glm.path).total);
    expect(glmRows(glm.path).total).toBeLessThan(300);
    await s1.kill9();

    const s2 = await startSwmProcess(env);
    procs.push(s2);
    proxy.up();
    const t0 = performance.now();
    await waitFor(() => glmRows(glm.path).total === 300, 20_000, "every KEM in GLM");
    const drainMs = performance.now() - t0;
    await waitFor(async () => (await s2.stats()).depth === 0, 5000, "queue empty");
    await Bun.sleep(300);
    expect(glmRows(glm.path)).toEqual({ total: 300, rewritten: 0 });
    console.log(
      `write-behind through a cut proxy: ${cutAt} in GLM at the cut, ${queued} queued at kill -9, all 300 in GLM ${drainMs.toFixed(0)} ms after the path came back (claim lease 1 s)`,
    );
    await s2.stop();
  } finally {
    await proxy.close();
    await served.stop();
    glm.close();
  }
}, 60_000);
