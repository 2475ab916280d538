/**
 * DOM helpers of the web console: element building, error text of Connect errors, and the display
 * of long values (wrapped in a box that scrolls, or truncated with a "show all" toggle).
 * @module
 */

import type { Timestamp } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { codeName } from "../../sdk/code-names.ts";

type Child = Node | string | number | null | undefined | false;

/**
 * Builds an element: `h("button", { class: "x", onclick }, "Save")`. Attributes starting with `on`
 * are event handlers; `true` sets a boolean attribute, `false`/`undefined` leaves it out.
 */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, unknown> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false || v === null) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v as EventListener);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children)
    if (c !== null && c !== undefined && c !== false) el.append(typeof c === "number" ? String(c) : c);
  return el;
}

/** Element by id (throws when the page lacks it: a bug in index.html). */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`console page has no #${id}`);
  return el as T;
}

let onUnauthenticated: ((message: string) => void) | undefined;

/**
 * Sets what happens when a call is refused as `Unauthenticated` (the key was revoked or the JWT
 * expired): the console goes back to its sign-in form.
 */
export function setUnauthenticatedHandler(handler: (message: string) => void): void {
  onUnauthenticated = handler;
}

/** "[code] message" of any error (Connect codes by name); an `Unauthenticated` error also calls the handler set above. */
export function errorText(err: unknown): string {
  const ce = ConnectError.from(err);
  if (ce.code === Code.Unauthenticated) queueMicrotask(() => onUnauthenticated?.(ce.rawMessage));
  return `[${codeName(ce.code)}] ${ce.rawMessage}`;
}

/** Sets a status line's text, red when `error`. */
export function setStatus(el: HTMLElement, text: string, error = false): void {
  el.textContent = text;
  el.classList.toggle("error", error);
}

/**
 * A long value shown whole but wrapped: up to `limit` characters at first, with a "show all (N
 * characters)" button that reveals the rest (keyboard reachable).
 */
export function longText(text: string, limit = 160, cls = "wrap"): HTMLElement {
  const span = h("span", { class: cls });
  if (text.length <= limit) {
    span.textContent = text;
    return span;
  }
  const head = document.createTextNode(`${text.slice(0, limit)}… `);
  const more = h(
    "button",
    { type: "button", class: "link", "aria-label": `show all ${text.length} characters` },
    `show all (${text.length} chars)`,
  );
  more.onclick = () => {
    span.replaceChildren(text);
  };
  span.append(head, more);
  return span;
}

/** ISO-like local time of a protobuf Timestamp ("" when unset). */
export function timeText(ts: Timestamp | undefined): string {
  if (!ts) return "";
  return dateText(new Date(Number(ts.seconds) * 1000 + Math.floor(ts.nanos / 1e6)));
}

/** "2026-11-26 09:58:03" in local time. */
export function dateText(d: Date): string {
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/**
 * Parses "key=value, key2=value2" into metadata equality filters: numbers and true/false are typed,
 * a value in double quotes stays a string (`version="2"`).
 * @throws Error naming a part without "=".
 */
export function parseFilters(text: string): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const part of text.split(/[,\n]/)) {
    const t = part.trim();
    if (!t) continue;
    const eq = t.indexOf("=");
    if (eq <= 0) throw new Error(`filter ${JSON.stringify(t)} is not key=value`);
    const key = t.slice(0, eq).trim();
    const raw = t.slice(eq + 1).trim();
    out[key] = /^".*"$/.test(raw)
      ? raw.slice(1, -1)
      : raw === "true"
        ? true
        : raw === "false"
          ? false
          : raw !== "" && /^-?\d+(\.\d+)?$/.test(raw)
            ? Number(raw)
            : raw;
  }
  return out;
}

/** A `datetime-local` input's value as a Date (undefined when empty). */
export function dateInput(el: HTMLInputElement): Date | undefined {
  return el.value ? new Date(el.value) : undefined;
}
