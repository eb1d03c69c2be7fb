// WebSocket relay: the client's upgrade is accepted only once the upstream
// socket is open, so the subprotocol the app chose is the one the client sees
// (RFC 6455 §4.2.2). Frames are relayed as they come, both ways; a close on
// either side closes the other with the same code.
import { withoutAccessCookie } from "../access/cookie.ts";
import type { Server, ServerWebSocket, WebSocketHandler } from "bun";
import { PEER_HEADERS } from "../peer/signing.ts";
import { FRONT_HEADERS } from "./forwarded.ts";

export interface RelayData {
  previewId: string;
  upstream: WebSocket;
  onOpen?: (id: string) => void;
  onClose?: (id: string) => void;
  onMessage?: (id: string) => void;
}

const HOP_BY_HOP_WS = new Set([
  "host", "connection", "upgrade", "sec-websocket-key", "sec-websocket-version",
  "sec-websocket-extensions", "sec-websocket-protocol", "content-length", "transfer-encoding", "keep-alive",
  ...PEER_HEADERS, ...FRONT_HEADERS,
]);

/** Opens the upstream socket, then upgrades the client. Undefined when the upgrade was done. */
export async function relayUpgrade(
  req: Request,
  server: Server<RelayData>,
  target: string,
  data: Omit<RelayData, "upstream">,
  extraHeaders: Record<string, string>,
): Promise<Response | undefined> {
  const protocols = (req.headers.get("sec-websocket-protocol") ?? "").split(",").map((p) => p.trim()).filter(Boolean);
  const headers: Record<string, string> = {};
  req.headers.forEach((v, k) => {
    if (!HOP_BY_HOP_WS.has(k)) headers[k] = v;
  });
  // The access cookie stays with the proxy (access/cookie.ts).
  if (headers.cookie !== undefined) {
    const rest = withoutAccessCookie(headers.cookie);
    if (rest) headers.cookie = rest;
    else delete headers.cookie;
  }
  Object.assign(headers, extraHeaders);
  const upstream = new WebSocket(target, { headers, protocols } as unknown as string[]);
  upstream.binaryType = "arraybuffer";
  const pending: Array<string | ArrayBuffer> = [];
  const buffer = (ev: MessageEvent) => pending.push(ev.data);
  upstream.addEventListener("message", buffer);
  const opened = await new Promise<boolean>((resolve) => {
    upstream.addEventListener("open", () => resolve(true), { once: true });
    upstream.addEventListener("error", () => resolve(false), { once: true });
    upstream.addEventListener("close", () => resolve(false), { once: true });
  });
  if (!opened) return new Response("Bad Gateway: the preview refused the WebSocket", { status: 502 });
  upstream.removeEventListener("message", buffer);
  const responseHeaders = upstream.protocol ? { "sec-websocket-protocol": upstream.protocol } : undefined;
  const ok = server.upgrade(req, { data: { ...data, upstream, pending } as RelayData, headers: responseHeaders });
  if (!ok) {
    upstream.close();
    return new Response("Expected a WebSocket upgrade", { status: 400 });
  }
  return undefined;
}

/** Valid close codes to send on (1005/1006 are reserved for "none"/"abnormal"). */
const sendable = (code: number) => (code === 1000 || (code >= 3000 && code <= 4999) || (code >= 1001 && code <= 1014 && code !== 1005 && code !== 1006) ? code : 1000);

export const relayHandler: WebSocketHandler<RelayData & { pending?: Array<string | ArrayBuffer> }> = {
  open(ws) {
    const { upstream, previewId } = ws.data;
    for (const m of ws.data.pending ?? []) ws.send(m);
    ws.data.pending = undefined;
    upstream.addEventListener("message", (ev) => {
      ws.send(ev.data as string | ArrayBuffer);
      ws.data.onMessage?.(previewId);
    });
    upstream.addEventListener("close", (ev) => ws.close(sendable(ev.code), ev.reason));
    upstream.addEventListener("error", () => ws.close(1011, "upstream error"));
    ws.data.onOpen?.(previewId);
  },
  message(ws: ServerWebSocket<RelayData>, message) {
    ws.data.upstream.send(message);
    ws.data.onMessage?.(ws.data.previewId);
  },
  close(ws, code, reason) {
    const { upstream } = ws.data;
    if (upstream.readyState === WebSocket.OPEN || upstream.readyState === WebSocket.CONNECTING) upstream.close(sendable(code), reason);
    ws.data.onClose?.(ws.data.previewId);
  },
  // Relay traffic is the app's: no idle timeout of our own beyond Bun's ping keep-alive.
  idleTimeout: 0,
  perMessageDeflate: false,
};
