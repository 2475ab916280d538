/**
 * Reading the head of a raw HTTP/1.1 response from a socket the test wrote a request to by hand
 * (partial bodies, early refusals), plain or TLS.
 */
import type { Socket } from "node:net";

/**
 * Collects what `sock` receives until the end of the response head (`\r\n\r\n`), then destroys it.
 * @returns the bytes received, as Latin-1 text (status line, headers, maybe some body).
 * @throws Error when no complete head arrives within `timeoutMs` (the socket is destroyed).
 */
export function responseHead(sock: Socket, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = "";
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no response within ${timeoutMs} ms (got ${JSON.stringify(got)})`));
    }, timeoutMs);
    sock.on("error", () => {});
    sock.on("data", (d: Buffer) => {
      got += d.toString("latin1");
      if (got.includes("\r\n\r\n")) {
        clearTimeout(timer);
        sock.destroy();
        resolve(got);
      }
    });
  });
}
