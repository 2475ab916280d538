/**
 * The authentication interceptor both listeners run around every RPC (docs/security.md): it authenticates
 * the call from its headers (gRPC metadata are headers too) and puts the principal in the Connect
 * context, where the service guards read it. The gRPC health service stays open, as load balancers
 * and orchestrators probe it without credentials.
 * @module
 */
import type { Interceptor } from "@connectrpc/connect";
import { Health } from "../../sdk/gen/grpc/health/v1/health_pb.ts";
import { principalKey } from "../../services/common/access.ts";
import { toConnectError } from "../../services/common/errors.ts";
import { hostPrincipalKey } from "../host/early-auth.ts";
import type { Authenticator } from "./authenticator.ts";
import { callerContext } from "./caller-context.ts";

/**
 * Creates the interceptor.
 * @param auth - the authenticator; when disabled every call runs as "anonymous" with every right.
 * Calls the host already authenticated before reading their body (`runtime/host/early-auth.ts`)
 * carry their principal in `hostPrincipalKey` and are not verified again.
 * @returns an interceptor failing calls with `Unauthenticated` (no, unknown or expired credentials).
 */
export function createAuthInterceptor(auth: Authenticator): Interceptor {
  return (next) => async (req) => {
    const early = req.contextValues.get(hostPrincipalKey);
    if (early) req.contextValues.set(principalKey, early);
    else if (req.service.typeName !== Health.typeName) {
      try {
        req.contextValues.set(principalKey, await auth.authenticate(req.header));
      } catch (err) {
        throw toConnectError(err);
      }
    }
    // The rest of the call runs with its caller in `callerContext` (the embedding cache partition).
    if (req.service.typeName === Health.typeName) return next(req);
    return callerContext.run(req.contextValues.get(principalKey), () => next(req));
  };
}
