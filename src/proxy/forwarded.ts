// X-Forwarded-* (de facto standard), RFC 7239's Forwarded and X-Real-IP, for
// the app. From an untrusted client they are ours alone (what it sent is
// dropped: apps build password-reset links from them); from a trusted hop (a
// signed sibling, a configured TLS terminator), the client address is
// appended to its chain and the host and scheme it saw are kept.

export const FORWARDED_FIELDS = ["x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "x-real-ip", "forwarded"] as const;

/**
 * Marks a request the byte-level front (fast/) hands to the general path on
 * loopback: the secret proves the front sent it, and only then is the client
 * address it names believed. Neither header ever reaches an app.
 */
export const FRONT_SECRET_HEADER = "x-previewd-front";
export const FRONT_CLIENT_HEADER = "x-previewd-client";
/** The node whose signed connection the peer front took this request from: the peer listener then checks nothing more. */
export const FRONT_PEER_HEADER = "x-previewd-front-peer";
export const FRONT_HEADERS = [FRONT_SECRET_HEADER, FRONT_CLIENT_HEADER, FRONT_PEER_HEADER];

/** `get` reads a request field by lowercased name. */
export function forwardedHeaders(get: (name: string) => string | null | undefined, clientIp: string | undefined, trusted: boolean): Record<string, string> {
  const ip = clientIp ?? "unknown";
  const prior = trusted ? get("x-forwarded-for") : null;
  const host = (trusted && get("x-forwarded-host")) || get("host") || "";
  const proto = (trusted && get("x-forwarded-proto")) || "http";
  const forwardedFor = prior ? `${prior}, ${ip}` : ip;
  const node = ip.includes(":") ? `"[${ip}]"` : ip;
  return {
    "x-forwarded-for": forwardedFor,
    "x-forwarded-host": host,
    "x-forwarded-proto": proto,
    "x-real-ip": (trusted && get("x-real-ip")) || ip,
    forwarded: (trusted && get("forwarded")) || `for=${node};host="${host}";proto=${proto}`,
  };
}
