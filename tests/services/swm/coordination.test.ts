/**
 * Locks and counters under contention: many concurrent clients, and on Redis several SWM service
 * instances sharing one Redis (as several processes would).
 */
import { describe, expect, test } from "bun:test";
import { LockStatus, ReleaseStatus } from "../../../sdk/gen/dcsm/v1/swm_service_pb.ts";
import { swmPerFile, type TestSwm } from "./helpers.ts";

const swm = swmPerFile();

async function instances(kind: "memory" | "redis", n: number): Promise<TestSwm[]> {
  if (kind === "memory") return [await swm.make("memory")];
  const prefix = `coord${Date.now()}-${Math.random()}:`;
  return Promise.all(Array.from({ length: n }, () => swm.make("redis", { prefix })));
}

for (const kind of ["memory", "redis"] as const) {
  describe(`coordination on ${kind}`, () => {
    test("40 agents x 5 rounds contend for one lock: never two holders, every grant a larger fencing token", async () => {
      const swms = await instances(kind, 3);
      let inside = 0;
      let maxInside = 0;
      const grants: bigint[] = [];
      const releases: ReleaseStatus[] = [];
      await Promise.all(
        Array.from({ length: 40 }, async (_, agent) => {
          const client = swms[agent % swms.length]!.client;
          for (let round = 0; round < 5; round++) {
            const r = await client.acquireLock({
              resourceId: "hot",
              agentId: `agent-${agent}`,
              timeoutMs: 20_000,
              leaseDurationMs: 10_000,
            });
            expect(r.status).toBe(LockStatus.ACQUIRED);
            inside++;
            maxInside = Math.max(maxInside, inside);
            grants.push(r.fencingToken);
            await Bun.sleep(Math.random() * 2);
            inside--;
            releases.push(
              (await client.releaseLock({ resourceId: "hot", agentId: `agent-${agent}`, lockId: r.lockId })).status,
            );
          }
        }),
      );
      expect(maxInside).toBe(1);
      expect(grants.length).toBe(200);
      for (let i = 1; i < grants.length; i++) expect(grants[i]!).toBeGreaterThan(grants[i - 1]!);
      expect(releases.every((s) => s === ReleaseStatus.RELEASED)).toBe(true);
      expect((await swms[0]!.client.getLockInfo({ resourceId: "hot" })).isLocked).toBe(false);
    }, 60_000);

    test("a holder that never releases loses the lock when its lease ends; the next grant fences it out", async () => {
      const swms = await instances(kind, 2);
      const a = await swms[0]!.client.acquireLock({ resourceId: "lease", agentId: "crashy", leaseDurationMs: 200 });
      const waiters = await Promise.all(
        ["w1", "w2", "w3"].map((agentId, i) =>
          swms[i % swms.length]!.client.acquireLock({
            resourceId: "lease",
            agentId,
            timeoutMs: 800,
            leaseDurationMs: 60_000,
          }),
        ),
      );
      const won = waiters.filter((w) => w.status === LockStatus.ACQUIRED);
      expect(won.length).toBe(1);
      expect(waiters.filter((w) => w.status === LockStatus.TIMEOUT).length).toBe(2);
      expect(won[0]!.fencingToken).toBeGreaterThan(a.fencingToken);
      expect(won[0]!.acquiredAtUnixMs).toBeGreaterThanOrEqual(a.leaseExpiresAtUnixMs);
      expect(
        (await swms[0]!.client.releaseLock({ resourceId: "lease", agentId: "crashy", lockId: a.lockId })).status,
      ).toBe(ReleaseStatus.INVALID_LOCK_ID);
    }, 20_000);

    test("counters stay exact under 60 concurrent incrementers", async () => {
      const swms = await instances(kind, 3);
      let expected = 0n;
      await Promise.all(
        Array.from({ length: 60 }, async (_, w) => {
          const client = swms[w % swms.length]!.client;
          for (let i = 0; i < 25; i++) {
            const by = BigInt((w * 31 + i * 7) % 11) - 3n;
            expected += by === 0n ? 1n : by;
            await client.incrementCounter({ counterId: "shared", incrementBy: by });
          }
        }),
      );
      for (const s of swms) expect((await s.client.getCounter({ counterId: "shared" })).currentValue).toBe(expected);
    }, 30_000);
  });
}
