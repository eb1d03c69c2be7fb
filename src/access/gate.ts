// The general path's side of access (proxy/index.ts calls it before anything
// else for a preview): a share link is answered here (cookie and redirect, or
// the password form first), and a private preview's request without access
// gets 401 (a page for a browser navigation, plain text otherwise: fetch,
// SSE, a WebSocket upgrade) and goes no further: not to the app, not to the
// waking page, not to its status poll. The byte-level front hands these here
// (fast/routes.ts): a denied or undecided request, and any share link.
import type { Access } from "./index.ts";
import { accessSetCookie, secureHost, SHARE_PARAM } from "./cookie.ts";

/** Largest password form body read (a password is at most 256 characters). */
const MAX_FORM = 4096;
/**
 * Wrong passwords a share takes per window on one node before its form answers 429: guessing is held to
 * this rate (times the nodes), and only someone holding the link can spend a share's allowance.
 */
const MAX_WRONG = 10;
const WRONG_WINDOW_MS = 60_000;

export interface AccessGateOptions {
  access: Access;
  /** Preview URLs are https (PREVIEWD_URL_TEMPLATE says so): every host gets the Secure cookie. */
  httpsUrls: boolean;
  now?: () => number;
}

export function createAccessGate(o: AccessGateOptions) {
  const { access } = o;
  const now = o.now ?? Date.now;
  /** Wrong passwords per share id in the current window: [count, window start]. */
  const wrong = new Map<string, [number, number]>();
  const locked = (sid: string) => {
    const w = wrong.get(sid);
    return !!w && now() - w[1] < WRONG_WINDOW_MS && w[0] >= MAX_WRONG;
  };
  const missed = (sid: string) => {
    const w = wrong.get(sid);
    if (!w || now() - w[1] >= WRONG_WINDOW_MS) {
      if (wrong.size > 10_000) wrong.clear();
      wrong.set(sid, [1, now()]);
    } else w[0]++;
  };

  /** A Response when the request stops here; undefined when it may go on. */
  async function check(req: Request, id: string, host: string): Promise<Response | undefined> {
    const url = new URL(req.url);
    const token = url.searchParams.get(SHARE_PARAM);
    if (token !== null) return shareLink(req, id, host, url, token);
    const cookie = req.headers.get("cookie");
    let d = access.table.decide(id, cookie);
    if (d === "unknown") {
      let exists: boolean;
      try {
        exists = await access.load(id);
      } catch {
        return unavailable(req); // the store is away and this preview is not known here: not let through
      }
      if (!exists) return undefined; // no such preview: the proxy's own 404
      d = access.table.decide(id, cookie);
    }
    return d === "denied" ? denied(req) : undefined;
  }

  async function shareLink(req: Request, id: string, host: string, url: URL, token: string): Promise<Response> {
    const claims = access.signer.verifyLink(id, token);
    if (!claims || access.table.isRevoked(claims.shareId)) return invalidLink(req);
    url.searchParams.delete(SHARE_PARAM);
    const location = `${url.pathname}${url.search}`;
    const grant = (status: 302 | 303) =>
      new Response(null, {
        status,
        headers: {
          location,
          "set-cookie": accessSetCookie(access.signer.cookie(id, claims.shareId, claims.exp), claims.exp - now() / 1000, secureHost(host, o.httpsUrls)),
          "cache-control": "no-store",
          "referrer-policy": "no-referrer",
        },
      });
    if (!claims.password) return grant(302);
    if (req.method === "GET" || req.method === "HEAD") return passwordForm(200, "");
    if (req.method !== "POST") return new Response("Method not allowed.\n", { status: 405, headers: { allow: "GET, POST", "content-type": "text/plain; charset=utf-8" } });
    if (locked(claims.shareId)) return passwordForm(429, "Too many wrong passwords for this link. Try again in a minute.", { "retry-after": String(WRONG_WINDOW_MS / 1000) });
    const password = await formPassword(req);
    if (password !== undefined && (await access.checkPassword(id, claims.shareId, password))) return grant(303);
    missed(claims.shareId);
    return passwordForm(401, "That password is not right.");
  }

  return { check };
}

/** The `password` field of a urlencoded form, or undefined (too large, another type, absent). */
async function formPassword(req: Request): Promise<string | undefined> {
  if (!(req.headers.get("content-type") ?? "").toLowerCase().startsWith("application/x-www-form-urlencoded")) return undefined;
  const len = Number(req.headers.get("content-length") ?? "0");
  if (len > MAX_FORM) return undefined;
  const text = await req.text();
  if (text.length > MAX_FORM) return undefined;
  return new URLSearchParams(text).get("password") ?? undefined;
}

/** Text that goes into HTML, escaped (a visitor's input never reaches a page raw). */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const page = (title: string, body: string) =>
  `<!doctype html><html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><meta name="referrer" content="no-referrer"><title>${escapeHtml(title)}</title>` +
  `<style>body{font:16px system-ui,sans-serif;max-width:36em;margin:15vh auto;padding:0 1em;color:#333}input,button{font:inherit;padding:.3em .6em}</style></head>` +
  `<body><h1>${escapeHtml(title)}</h1>${body}</body></html>`;

const NO_STORE = { "cache-control": "no-store", "referrer-policy": "no-referrer" };

/** A navigation (a browser asks for HTML) gets a page; anything else (fetch, SSE, WebSocket) plain text. */
const wantsHtml = (req: Request) => (req.headers.get("accept") ?? "").includes("text/html");

function refusal(req: Request, status: number, title: string, text: string): Response {
  const html = wantsHtml(req);
  return new Response(html ? page(title, `<p>${escapeHtml(text)}</p>`) : `${text}\n`, {
    status,
    headers: { "content-type": html ? "text/html; charset=utf-8" : "text/plain; charset=utf-8", ...NO_STORE },
  });
}

export const denied = (req: Request) => refusal(req, 401, "This preview is private", "This preview is private: open a share link from its owner to see it.");
const invalidLink = (req: Request) => refusal(req, 401, "Share link not valid", "This share link is not valid: it has expired, was revoked, or is not for this preview.");
const unavailable = (req: Request) => refusal(req, 503, "Preview unavailable", "Access to this preview cannot be checked right now. Try again in a moment.");

/** The password form: posts to the same URL (the link, token and all), so nothing of it is echoed but a fixed message. */
function passwordForm(status: 200 | 401 | 429, message: string, extra: Record<string, string> = {}): Response {
  const body =
    `<p>This share link asks for a password.</p>` +
    (message ? `<p role="alert" style="color:#b00">${escapeHtml(message)}</p>` : "") +
    `<form method="post"><label>Password <input type="password" name="password" autocomplete="current-password" required autofocus></label> <button type="submit">Open</button></form>`;
  return new Response(page("Password required", body), { status, headers: { "content-type": "text/html; charset=utf-8", ...NO_STORE, ...extra } });
}
