// The access cookie on the wire: found in a Cookie header, taken out of it
// before a request reaches an app (the app must never see, log or replay the
// visitor's access), and the Set-Cookie a share link answers with.

export const ACCESS_COOKIE = "previewd_access";
/** The query parameter of a share link. */
export const SHARE_PARAM = "previewd_share";

const PAIR_PREFIX = `${ACCESS_COOKIE}=`;

/** The access cookie's value in a Cookie header (pairs split by `;`, RFC 6265 §5.4), if any. */
export function accessCookieOf(header: string | null | undefined): string | undefined {
  if (!header) return undefined;
  let at = header.indexOf(PAIR_PREFIX);
  while (at >= 0) {
    // A pair starts the header or follows `;` and optional spaces.
    let b = at - 1;
    while (b >= 0 && header.charCodeAt(b) === 32) b--;
    if (b < 0 || header.charCodeAt(b) === 59) {
      const from = at + PAIR_PREFIX.length;
      const end = header.indexOf(";", from);
      return header.slice(from, end < 0 ? undefined : end).trim();
    }
    at = header.indexOf(PAIR_PREFIX, at + 1);
  }
  return undefined;
}

/** A Cookie header without the access cookie: the same string when it has none, "" when nothing is left. */
export function withoutAccessCookie(header: string): string {
  if (!header.includes(PAIR_PREFIX)) return header;
  return header
    .split(";")
    .map((p) => p.trim())
    .filter((p) => p && !p.startsWith(PAIR_PREFIX))
    .join("; ");
}

/** Takes the access cookie out of a request's headers (the general path), in place. */
export function stripAccessCookie(headers: Headers): void {
  const c = headers.get("cookie");
  if (c === null || !c.includes(PAIR_PREFIX)) return;
  const rest = withoutAccessCookie(c);
  if (rest) headers.set("cookie", rest);
  else headers.delete("cookie");
}

/**
 * The Set-Cookie of a share link. Host-only (no Domain: RFC 6265 §5.3 step 6
 * keeps it for this preview's host alone), HttpOnly (no script of the app
 * reads it), Path=/, Max-Age to the share's expiry.
 *
 * `secure` (the preview URL is https, or the host a `localhost` name, which
 * browsers treat as a secure context): `Secure; SameSite=None; Partitioned`,
 * so it is sent inside a builder's iframe even where third-party cookies are
 * blocked (CHIPS: the cookie is kept per top-level site).
 *
 * Plain http on another host: browsers drop a `Secure` cookie set over http,
 * and refuse `SameSite=None` and `Partitioned` without `Secure`, so such a
 * cookie would be lost and the visitor sent round the redirect forever. It
 * goes out `SameSite=Lax` instead: a visit in its own tab works, an iframe on
 * another site does not (the README says to serve previews over https).
 */
export function accessSetCookie(value: string, maxAgeS: number, secure: boolean): string {
  const base = `${ACCESS_COOKIE}=${value}; Path=/; Max-Age=${Math.max(0, Math.floor(maxAgeS))}; HttpOnly`;
  return secure ? `${base}; Secure; SameSite=None; Partitioned` : `${base}; SameSite=Lax`;
}

/** Whether a preview host gets the Secure cookie: https URLs, and `localhost` names (secure contexts in browsers). */
export function secureHost(host: string, httpsUrls: boolean): boolean {
  if (httpsUrls) return true;
  const name = host.toLowerCase().replace(/:\d+$/, "").replace(/\.$/, "");
  return name === "localhost" || name.endsWith(".localhost");
}
