// One request forwarded upstream, streaming both ways. RFC 9110 §7.6.1: the
// hop-by-hop fields, and any field the Connection header names, stay on
// their hop. The body and its encoding pass through untouched (no
// decompression, Accept-Encoding kept), and redirects go back to the client.
//
// Why not hono/proxy: it copies the headers twice and rebuilds the request
// and the response, which cost ~30% of the proxy's throughput here (14.5k vs
// 20.7k req/s in one run, scripts/bench); it also drops Accept-Encoding.
import { PEER_HEADERS } from "../peer/signing.ts";
import { stripAccessCookie } from "../access/cookie.ts";
import { hostOnlyHeaders } from "./cookies.ts";
import { FRONT_HEADERS } from "./forwarded.ts";

const HOP_BY_HOP = ["connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"];
const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS"]);
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

export function stripHopByHop(h: Headers): void {
  const connection = h.get("connection");
  if (connection) {
    for (const part of connection.split(",")) {
      const name = part.trim();
      if (TOKEN.test(name)) h.delete(name);
    }
  }
  for (const name of HOP_BY_HOP) h.delete(name);
}

/**
 * `body` replaces the request's own (a wrapped one: body.ts). `cookieHost`:
 * the preview host the request was for; the app's cookies are made host-only
 * for it (cookies.ts).
 */
export async function forward(req: Request, url: string, extra: Record<string, string>, body: ReadableStream<Uint8Array> | null = req.body, cookieHost?: string): Promise<Response> {
  const headers = new Headers(req.headers);
  stripHopByHop(headers);
  for (const name of PEER_HEADERS) headers.delete(name); // node-to-node auth never reaches an app
  for (const name of FRONT_HEADERS) headers.delete(name);
  stripAccessCookie(headers); // a visitor's access to a private preview is the proxy's, never the app's
  for (const name in extra) headers.set(name, extra[name]!);
  const init = { method: req.method, headers, body, redirect: "manual", signal: req.signal, decompress: false } as RequestInit;
  let res: Response;
  try {
    res = await fetch(url, init);
  } catch (err) {
    // A kept-alive upstream connection can close just as it is reused (Node
    // servers close idle ones after 5 s). A request without a body is safe to
    // send once more (as nginx's proxy_next_upstream does for idempotent
    // requests); others are not.
    // On a fresh connection: the pool may hold more connections the app closed.
    if (req.signal.aborted || !IDEMPOTENT.has(req.method)) throw err;
    res = await fetch(url, { ...init, keepalive: false });
  }
  stripHopByHop(res.headers);
  hostOnlyHeaders(res.headers, cookieHost);
  // RFC 9110 §9.3.2: a HEAD answer carries the fields a GET would. Without a
  // Content-Length from the app, Bun.serve writes `content-length: 0` (a
  // wrong size); chunked says "length unknown" (RFC 9112 §6.1 allows it).
  if (req.method === "HEAD" && !res.headers.has("content-length")) res.headers.set("transfer-encoding", "chunked");
  return res;
}
