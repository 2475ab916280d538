/**
 * SWM's coordination primitives as MCP tools: leased locks with fencing tokens (`acquire_lock`,
 * `release_lock`) and shared counters (`increment_counter`, `get_counter`).
 * @module
 */
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { z } from "zod";
import { LockStatus, ReleaseStatus } from "../../sdk/index.ts";
import type { DcsmLink } from "./dcsm-link.ts";
import { register } from "./tool-registration.ts";
import { type CallerOf, int64 } from "./tool-schemas.ts";

/**
 * Registers the SWM lock and counter tools on an MCP server.
 * @param server - the MCP server (one per MCP session).
 * @param link - the DCSM clients.
 * @param callerOf - derives the forwarded credentials and the agent id of each call.
 */
export function registerSwmCoordinationTools(server: McpServer, link: DcsmLink, callerOf: CallerOf): void {
  const resource = z
    .string()
    .min(1)
    .max(256)
    .describe(
      'Lock name as "<namespace>/<name>", e.g. "team-a/deploy-prod" (scoped credentials need the namespace prefix).',
    );
  const holder = z.string().min(1).max(256).optional().describe("Holder id; defaults to this MCP session's agent id.");
  register(server, callerOf, "acquire_lock", {
    title: "Acquire a lock",
    description:
      "Take an exclusive, leased lock shared by all agents, e.g. before editing a shared resource. " +
      "`acquired` is false when another holder has it (after waiting up to wait_ms). Calling again while you hold it renews the lease. " +
      "Pass `fencing_token` along with writes the lock protects: it grows with every new grant, so a write with a smaller token is stale. Release with release_lock and the returned lock_id.",
    input: {
      resource,
      lease_ms: z
        .number()
        .int()
        .min(1)
        .max(3_600_000)
        .optional()
        .describe(
          "Lease in milliseconds; the lock frees itself after it unless renewed (server default when omitted).",
        ),
      wait_ms: z
        .number()
        .int()
        .min(0)
        .max(60_000)
        .default(0)
        .describe("How long to wait for a held lock, in milliseconds (default 0: answer at once)."),
      agent_id: holder,
    },
    output: {
      acquired: z.boolean().describe("True when you hold the lock now (new grant or renewal)."),
      status: z.enum(["acquired", "already_held_by_you", "timeout", "not_available"]),
      resource: z.string(),
      holder: z.string().describe("Your holder id."),
      lock_id: z.string().describe("Id of this grant; needed by release_lock."),
      fencing_token: int64.describe("Monotonic fencing token of this grant (decimal)."),
      lease_expires_at: z.string().optional().describe("When the lease ends, ISO 8601."),
      message: z.string(),
    },
    annotations: { idempotentHint: false },
    async run(a, c) {
      const agentId = a.agent_id ?? c.agentId;
      const res = await link.swm.acquireLock(
        { resourceId: a.resource, agentId, timeoutMs: a.wait_ms, leaseDurationMs: a.lease_ms ?? 0 },
        c.call,
      );
      const status: "acquired" | "already_held_by_you" | "timeout" | "not_available" =
        res.status === LockStatus.ACQUIRED
          ? "acquired"
          : res.status === LockStatus.ALREADY_HELD_BY_YOU
            ? "already_held_by_you"
            : res.status === LockStatus.TIMEOUT
              ? "timeout"
              : "not_available";
      return {
        acquired: status === "acquired" || status === "already_held_by_you",
        status,
        resource: res.resourceId,
        holder: agentId,
        lock_id: res.lockId,
        fencing_token: res.fencingToken.toString(),
        lease_expires_at:
          res.leaseExpiresAtUnixMs > 0n ? new Date(Number(res.leaseExpiresAtUnixMs)).toISOString() : undefined,
        message: res.message,
      };
    },
  });

  register(server, callerOf, "release_lock", {
    title: "Release a lock",
    description:
      "Release a lock you hold, naming the lock_id acquire_lock returned. `released` is false when the lock was not held (lease expired) or is held by another grant.",
    input: { resource, lock_id: z.string().min(1).max(256).describe("lock_id from acquire_lock."), agent_id: holder },
    output: { released: z.boolean(), status: z.enum(["released", "not_held", "invalid_lock_id"]), message: z.string() },
    annotations: { idempotentHint: true },
    async run(a, c) {
      const res = await link.swm.releaseLock(
        { resourceId: a.resource, agentId: a.agent_id ?? c.agentId, lockId: a.lock_id },
        c.call,
      );
      const status: "released" | "not_held" | "invalid_lock_id" =
        res.status === ReleaseStatus.RELEASED
          ? "released"
          : res.status === ReleaseStatus.NOT_HELD
            ? "not_held"
            : "invalid_lock_id";
      return { released: status === "released", status, message: res.message };
    },
  });

  const counter = z
    .string()
    .min(1)
    .max(256)
    .describe('Counter name as "<namespace>/<name>", e.g. "team-a/tickets-done".');
  register(server, callerOf, "increment_counter", {
    title: "Increment a counter",
    description:
      "Atomically add to a counter shared by all agents (created at 0 on first use) and return its new value. Use it for sequence numbers, quotas or progress counts.",
    input: {
      counter,
      by: z
        .number()
        .int()
        .min(-(2 ** 53) + 1)
        .max(2 ** 53 - 1)
        .default(1)
        .describe("Amount to add (default 1; may be negative; 0 adds 1)."),
    },
    output: { counter: z.string(), value: int64.describe("Value after the increment (decimal int64).") },
    annotations: { idempotentHint: false },
    async run(a, c) {
      const res = await link.swm.incrementCounter({ counterId: a.counter, incrementBy: BigInt(a.by) }, c.call);
      return { counter: res.counterId, value: res.currentValue.toString() };
    },
  });

  register(server, callerOf, "get_counter", {
    title: "Read a counter",
    description: "Read a shared counter's current value (0 when it was never incremented).",
    input: { counter },
    output: { counter: z.string(), value: int64.describe("Current value (decimal int64).") },
    annotations: { readOnlyHint: true },
    async run(a, c) {
      const res = await link.swm.getCounter({ counterId: a.counter }, c.call);
      return { counter: res.counterId, value: res.currentValue.toString() };
    },
  });
}
