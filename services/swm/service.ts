/**
 * The SWM service (`dcsm.v1.SharedWorkingMemoryService`, seed 002 sections 3.4, 4.2, 4.3, 7.2).
 * Not built yet: every method answers `Unimplemented` with a message saying so (issue 2 scope);
 * the working set, events, locks, counters and write-behind come with the SWM issue.
 * @module
 */
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import type { SharedWorkingMemoryService } from "../../sdk/gen/dcsm/v1/swm_service_pb.ts";

function unimplemented(method: string): never {
  throw new ConnectError(`SharedWorkingMemoryService.${method} is not implemented in this build yet`, Code.Unimplemented);
}

/**
 * Creates the placeholder SWM implementation: every RPC fails with `Code.Unimplemented`.
 */
export function createUnimplementedSwmService(): ServiceImpl<typeof SharedWorkingMemoryService> {
  return {
    publishKEMToSWM: async () => unimplemented("PublishKEMToSWM"),
    // biome-ignore lint/correctness/useYield: placeholder stream that fails at once
    async *subscribeToSWMEvents() {
      unimplemented("SubscribeToSWMEvents");
    },
    querySWM: async () => unimplemented("QuerySWM"),
    loadKEMsFromGLM: async () => unimplemented("LoadKEMsFromGLM"),
    acquireLock: async () => unimplemented("AcquireLock"),
    releaseLock: async () => unimplemented("ReleaseLock"),
    getLockInfo: async () => unimplemented("GetLockInfo"),
    incrementCounter: async () => unimplemented("IncrementCounter"),
    getCounter: async () => unimplemented("GetCounter"),
  };
}
