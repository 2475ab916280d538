/**
 * Connection limits of the `node:http2` listeners (gRPC h2c and the TLS port), so idle or silent
 * connections cannot use up the process's file descriptors:
 *
 * - a cap on open connections: beyond `maxConnections`, a new connection is closed at once;
 * - a handshake timeout: a connection that has not completed the HTTP/2 connection preface
 *   (the client's SETTINGS frame, RFC 9113 3.4) within `handshakeTimeoutMs` is closed — for TLS,
 *   a connection that sent no byte within that time;
 * - an idle timeout: an HTTP/2 session with no open stream for `idleTimeoutMs` is closed with
 *   GOAWAY (open streams, health `Watch` included, keep it open; those are bounded by their own caps).
 * @module
 */

import type { Http2Session } from "node:http2";
import type { Server as NetServer, Socket } from "node:net";

/** Connection limits; every value is required (defaults live in the configuration). */
export interface ConnectionLimits {
  /** Most open connections; more are closed on accept. */
  maxConnections: number;
  /** Longest time from accept to the client's HTTP/2 SETTINGS (h2c) or first byte (TLS), ms. */
  handshakeTimeoutMs: number;
  /** Longest time an HTTP/2 session may stay without an open stream, ms. */
  idleTimeoutMs: number;
}

/** Counts of what the limits did (for tests and logs). */
export interface ConnectionLimitStats {
  /** Connections open now. */
  open: number;
  /** Connections closed on accept because `maxConnections` were open. */
  refused: number;
  /** Connections closed by the handshake timeout. */
  handshakeTimeouts: number;
  /** Sessions closed by the idle timeout. */
  idleTimeouts: number;
}

/**
 * Applies `limits` to a listening (or about to listen) `node:http2` server.
 * @param server - an `Http2Server` or `Http2SecureServer`.
 * @param tls - true for a TLS server: the handshake ends with the first byte received (the
 *   connection may be HTTP/1.1 after ALPN, which has no SETTINGS).
 * @returns live counters.
 */
export function applyConnectionLimits(server: NetServer, limits: ConnectionLimits, tls = false): ConnectionLimitStats {
  const stats: ConnectionLimitStats = { open: 0, refused: 0, handshakeTimeouts: 0, idleTimeouts: 0 };
  server.on("connection", (socket: Socket) => {
    if (stats.open >= limits.maxConnections) {
      stats.refused++;
      socket.destroy();
      return;
    }
    stats.open++;
    let timer: ReturnType<typeof setTimeout> | undefined;
    socket.once("close", () => {
      stats.open--;
      clearTimeout(timer);
    });
    if (tls) {
      // TLS (HTTP/2 or HTTP/1.1 after ALPN): the client must start its handshake in time.
      timer = setTimeout(() => {
        stats.handshakeTimeouts++;
        socket.destroy();
      }, limits.handshakeTimeoutMs);
      socket.once("data", () => clearTimeout(timer));
    }
  });
  server.on("session", (session: Http2Session) => {
    // h2c: the connection preface is complete once the client's SETTINGS arrived.
    const handshake = tls
      ? undefined
      : setTimeout(() => {
          stats.handshakeTimeouts++;
          session.destroy();
        }, limits.handshakeTimeoutMs);
    session.once("remoteSettings", () => clearTimeout(handshake));
    let streams = 0;
    let idle: ReturnType<typeof setTimeout> | undefined;
    const arm = () => {
      clearTimeout(idle);
      idle = setTimeout(() => {
        stats.idleTimeouts++;
        session.close();
        // A client that ignores GOAWAY is cut after one more idle period.
        setTimeout(() => session.destroy(), limits.idleTimeoutMs).unref?.();
      }, limits.idleTimeoutMs);
    };
    arm();
    session.on("stream", (stream) => {
      streams++;
      clearTimeout(idle);
      stream.once("close", () => {
        if (--streams === 0 && !session.closed && !session.destroyed) arm();
      });
    });
    session.once("close", () => {
      clearTimeout(idle);
      clearTimeout(handshake);
    });
  });
  return stats;
}
