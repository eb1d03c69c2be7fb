// Cookies an app sets stay with its own preview. Every preview is a host
// under one domain ({id}.{domain}), so to a browser all previews are one
// site: a `Set-Cookie: x=1; Domain=preview.test` from preview A would be
// sent to every other preview (SameSite does not help: they are same-site),
// and with a domain such as preview.example.com, A could even set cookies for
// example.com, the operator's own site (session fixation, cookie tossing).
//
// So the proxy makes every app cookie host-only: a `Domain` attribute is
// dropped unless it names exactly the preview's own host (which covers
// nothing but that host and its sub-names, and no sub-name of a preview host
// is another preview: ids hold no dot). Without `Domain` a browser keeps the
// cookie for the exact host that set it (RFC 6265 §5.3 step 6). Both proxy
// paths do it: the byte-level front on the head it relays (fast/rewrite.ts),
// the general path on fetch's headers (forward.ts).
//
// This is a second line: the README tells operators to put the preview
// domain on the Public Suffix List, so browsers themselves refuse such cookies.

/** The host a request was for, as a cookie's Domain would name it: lowercased, no port, no trailing dot. */
export function cookieHost(host: string | null | undefined): string | undefined {
  if (!host) return undefined;
  let name = host.toLowerCase();
  const colon = name.lastIndexOf(":");
  if (colon > 0 && !name.endsWith("]")) name = name.slice(0, colon);
  if (name.endsWith(".")) name = name.slice(0, -1);
  return name || undefined;
}

/** A `Domain=` attribute, after a `;` (RFC 6265 §5.2: name case-insensitive, whitespace around it allowed). */
const DOMAIN_ATTR = /;[ \t]*domain[ \t]*=[^;]*/gi;

/**
 * A Set-Cookie value with every `Domain` attribute that does not name `host`
 * exactly taken out; undefined when it needs no change (the common case: no
 * Domain). `host` undefined: every Domain goes.
 */
export function hostOnly(value: string, host: string | undefined): string | undefined {
  const semi = value.indexOf(";");
  if (semi < 0) return undefined;
  // The name=value pair comes first and may hold anything: only attributes are looked at.
  const attrs = value.slice(semi);
  if (!/domain/i.test(attrs)) return undefined;
  let changed = false;
  const kept = attrs.replace(DOMAIN_ATTR, (attr) => {
    const eq = attr.indexOf("=");
    // A leading dot is ignored by browsers (RFC 6265 §5.2.3), as is a trailing one here.
    let d = attr.slice(eq + 1).trim().toLowerCase();
    if (d.startsWith(".")) d = d.slice(1);
    if (d.endsWith(".")) d = d.slice(0, -1);
    if (host !== undefined && d === host) return attr;
    changed = true;
    return "";
  });
  return changed ? value.slice(0, semi) + kept : undefined;
}

/** Rewrites a Headers' Set-Cookie fields in place (the general path); true when one changed. */
export function hostOnlyHeaders(headers: Headers, host: string | undefined): boolean {
  const cookies = headers.getSetCookie();
  if (cookies.length === 0) return false;
  let changed = false;
  const out = cookies.map((c) => {
    const fixed = hostOnly(c, host);
    if (fixed === undefined) return c;
    changed = true;
    return fixed;
  });
  if (!changed) return false;
  headers.delete("set-cookie");
  for (const c of out) headers.append("set-cookie", c);
  return true;
}
