// The peer listener (PREVIEWD_PEER_PORT, TCP; gossip uses UDP on the same
// number). Two kinds of signed calls arrive here: control API calls another
// node routes to the preview's owner, and preview traffic another node's
// proxy forwards. Both are served from this node's own previews only, so a
// request crosses at most one hop: a loop cannot be built.
import type { Server } from "bun";
import type { Hono } from "hono";
import type { Logger } from "../log.ts";
import { PEER_HOST_HEADER, PeerVerifier, type PeerKind } from "./signing.ts";

export interface PeerServerOptions {
  host: string;
  port: number;
  verifier: PeerVerifier;
  /** The control API over this node's previews only. */
  api: Hono;
  /** The proxy over this node's previews only. */
  proxy: { fetch: (req: Request, server: Server<never>) => Response | Promise<Response>; websocket: object };
  log: Logger;
}

export function startPeerServer(o: PeerServerOptions): Server<unknown> {
  const log = o.log.child({ mod: "peer" });
  return Bun.serve({
    hostname: o.host,
    port: o.port,
    idleTimeout: 120,
    maxRequestBodySize: 4 * 1024 ** 3,
    websocket: o.proxy.websocket as never,
    fetch(req, server) {
      const target = (kind: PeerKind) => {
        if (kind === "proxy") return req.headers.get(PEER_HOST_HEADER) ?? "";
        const u = new URL(req.url);
        return u.pathname + u.search;
      };
      const verdict = o.verifier.verify(req.headers, target);
      if ("refused" in verdict) {
        log.warn({ reason: verdict.refused, from: server.requestIP(req)?.address }, "refused a peer call");
        return Response.json({ error: { code: "peer_refused", message: `Peer call refused: ${verdict.refused}.` } }, { status: 403 });
      }
      return verdict.kind === "api" ? o.api.fetch(req) : o.proxy.fetch(req, server as Server<never>);
    },
  }) as Server<unknown>;
}
