/**
 * A TCP proxy for fault tests: forwards a free local port to a target, can cut every open
 * connection (a network drop) and refuse new ones while "down".
 */
import { createConnection, createServer, type Socket } from "node:net";

/** A running proxy. */
export interface TcpProxy {
  /** "http://127.0.0.1:<port>" of the proxy. */
  url: string;
  /** Open client connections. */
  readonly open: number;
  /** Destroys every open connection; with `down`, also refuses new ones until `up()`. */
  drop(down?: boolean): void;
  /** Accepts connections again. */
  up(): void;
  /** Stops the proxy. */
  close(): Promise<void>;
}

/** Starts a proxy to `targetPort` on 127.0.0.1. */
export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  const pairs = new Set<[Socket, Socket]>();
  let down = false;
  const server = createServer((client) => {
    if (down) return void client.destroy();
    const upstream = createConnection({ host: "127.0.0.1", port: targetPort });
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on("error", end).on("close", end);
    upstream.on("error", end).on("close", end);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  const cut = () => {
    for (const [a, b] of pairs) {
      a.destroy();
      b.destroy();
    }
    pairs.clear();
  };
  return {
    url: `http://127.0.0.1:${port}`,
    get open() {
      return pairs.size;
    },
    drop(d = false) {
      down = d;
      cut();
    },
    up() {
      down = false;
    },
    close: () => {
      cut();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
