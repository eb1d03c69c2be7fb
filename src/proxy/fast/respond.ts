// The front's own answers (a refused head, a busy preview, an app that did
// not answer), written as bytes on the client's connection. The pages are the
// general path's (pages.ts), so a client sees the same either way.
import { bodyTimeoutPage, busyPage, upstreamErrorPage } from "../pages.ts";
import { RETRY_AFTER_S } from "../limits.ts";

const REASON: Record<number, string> = {
  400: "Bad Request", 403: "Forbidden", 408: "Request Timeout", 431: "Request Header Fields Too Large",
  502: "Bad Gateway", 503: "Service Unavailable", 505: "HTTP Version Not Supported",
};

/** A Response as HTTP/1.1 bytes, with its length, and `Connection: close` when the connection ends after it. */
export async function serialize(res: Response, close: boolean): Promise<Buffer> {
  const body = Buffer.from(await res.arrayBuffer());
  let head = `HTTP/1.1 ${res.status} ${REASON[res.status] ?? ""}\r\n`;
  res.headers.forEach((v, k) => {
    if (k !== "connection" && k !== "content-length") head += `${k}: ${v}\r\n`;
  });
  head += `content-length: ${body.length}\r\n${close ? "connection: close\r\n" : ""}\r\n`;
  return Buffer.concat([Buffer.from(head, "latin1"), body]);
}

/** A malformed request: the spec's error shape, naming what was wrong. */
export function refusedHead(status: number, reason: string): Response {
  const code = status === 431 ? "request_head_too_large" : status === 403 ? "peer_refused" : "bad_request";
  const message = status === 403 ? `Refused: ${reason}.` : `Malformed request: ${reason}`;
  return new Response(JSON.stringify({ error: { code, message } }), {
    status,
    headers: { "content-type": "application/json", "cache-control": "no-store" },
  });
}

// The general pages read the client's Accept header (HTML for browsers).
const asRequest = (accept: string) => new Request("http://front/", { headers: { accept } });
export const busy = (accept: string) => busyPage(asRequest(accept), RETRY_AFTER_S);
export const bodyTimeout = (accept: string) => bodyTimeoutPage(asRequest(accept));
export const upstreamError = () => upstreamErrorPage();
