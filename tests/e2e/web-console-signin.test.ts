/**
 * The web console's sign-in, driven headless in a real Chromium against a real server with a real
 * keys file (shared setup: `fixtures/console.ts`): a wrong key refused, a scoped API key showing
 * its principal and namespaces and kept in sessionStorage only, a JWT with two namespaces, an
 * expired JWT sending the page back to sign-in; a read-only key offered no writes; and
 * `GET /whoami`, which the page signs in with.
 */
import { expect, test } from "bun:test";
import { Code, ConnectError } from "@connectrpc/connect";
import { SignJWT } from "jose";
import { createAgentSDK } from "../../sdk/index.ts";
import { consolePerFile, JWT_SECRET, keys, shoot, signIn } from "./fixtures/console.ts";

const ui = consolePerFile({ auth: true });

test("sign-in: a wrong key is refused, a scoped key shows its principal and namespaces, the key stays in sessionStorage only; a JWT with two namespaces; an expired JWT signs out", async () => {
  const { page, errors } = await ui.newPage();
  await page.locator("#signin-status", { hasText: "requires an API key" }).waitFor();
  await shoot(page, "signin");
  await page.fill("#signin-token", "dcsm_not-a-key");
  await page.click("#signin-button");
  await page.locator("#signin-status", { hasText: "unknown API key" }).waitFor();
  await signIn(page, keys.a.key, "agent-a");
  expect(await page.textContent("#who-scopes")).toContain("team-a: read,write,publish,subscribe,lock");
  expect(await page.evaluate(() => [sessionStorage.length, localStorage.length, document.cookie])).toEqual([1, 0, ""]);
  // A reload keeps the session (same tab); signing out forgets the key.
  await page.reload();
  await page.locator("#who", { hasText: "agent-a" }).waitFor();
  await page.click("#signout");
  await page.locator("#signin").waitFor();
  expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
  expect(await page.textContent("#who")).toBe("not signed in");

  // A JWT (HS256, OAuth 2 "scope" claim) signs in the same way.
  const jwt = await new SignJWT({ scope: "team-a:read team-b:read" })
    .setProtectedHeader({ alg: "HS256" })
    .setSubject("jwt-reader")
    .setIssuedAt()
    .setExpirationTime("5m")
    .sign(new TextEncoder().encode(JWT_SECRET));
  await signIn(page, jwt, "jwt-reader");
  expect(await page.textContent("#who-scopes")).toBe("team-a: read · team-b: read");
  expect(await page.isHidden("#tab-ingest")).toBe(true);
  // Two readable namespaces: the table shows the first one's KEMs, and switching shows the other's.
  await page.locator("#mem-status", { hasText: "5 KEMs" }).waitFor();
  await page.fill("#mem-ns", "team-b");
  await page.click("#mem-apply");
  await page.locator("#mem-status", { hasText: "1 KEMs" }).waitFor();
  expect(await page.textContent("#mem-rows")).toContain("team-b secret");

  // When the JWT expires, the next call sends the page back to sign-in, saying why.
  await page.click("#signout");
  const shortJwt = await new SignJWT({ scope: "team-a:read" })
    .setProtectedHeader({ alg: "HS256" })
    .setSubject("short-lived")
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + 2)
    .sign(new TextEncoder().encode(JWT_SECRET));
  await signIn(page, shortJwt, "short-lived");
  await page.locator("#mem-status", { hasText: "5 KEMs" }).waitFor();
  await Bun.sleep(2500);
  await page.click("#mem-apply");
  await page.locator("#signin-status", { hasText: "refused the credentials" }).waitFor();
  expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
  expect(errors).toEqual([]);
}, 60_000);

test("a read-only key is offered no ingest, edit or delete", async () => {
  const { page, errors } = await ui.newPage();
  await signIn(page, keys.reader.key, "reader-a");
  await page.locator("#mem-status", { hasText: "KEMs, newest first" }).waitFor();
  expect(await page.isHidden("#tab-ingest")).toBe(true);
  await page.click("#mem-rows tr .row-open");
  await page.locator("#kem-dialog", { hasText: "read only" }).waitFor();
  expect(await page.locator("#kem-edit, #kem-delete").count()).toBe(0);
  await page.click("#kem-dialog-close");
  await page.click("#tab-working");
  expect(await page.isHidden("#swm-events")).toBe(true); // no subscribe right
  expect(errors).toEqual([]);
}, 60_000);

test("GET /whoami with authentication: 401 without or with a wrong key, the principal and scopes with a good one", async () => {
  expect((await fetch(`${ui.server.httpUrl}/whoami`)).status).toBe(401);
  expect((await fetch(`${ui.server.httpUrl}/whoami`, { headers: { authorization: "Bearer dcsm_nope" } })).status).toBe(
    401,
  );
  const res = await fetch(`${ui.server.httpUrl}/whoami`, { headers: { authorization: `Bearer ${keys.a.key}` } });
  expect(await res.json()).toEqual({
    authEnabled: true,
    principal: "agent-a",
    scopes: { "team-a": ["read", "write", "publish", "subscribe", "lock"] },
    defaultNamespace: "team-a",
    rights: ["read", "write", "publish", "subscribe", "lock", "admin"],
  });
  const reader = createAgentSDK({ baseUrl: ui.server.httpUrl, agentId: "x", token: keys.reader.key });
  const someId = (await reader.glm.retrieveKEMs({ query: {}, pageSize: 1 })).kems[0]!.id;
  const denied = await reader.deleteKem(someId).catch((e: unknown) => ConnectError.from(e).code);
  expect(denied).toBe(Code.PermissionDenied); // the page hides what the server would refuse anyway
});
