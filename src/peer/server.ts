// The peer listener (PREVIEWD_PEER_PORT, TCP; gossip uses UDP on the same
// number). Two kinds of signed calls arrive here: control API calls another
// node routes to the preview's owner, and preview traffic another node's
// proxy forwards. Both are served from this node's own previews only, so a
// request crosses at most one hop: a loop cannot be built.
import type { Server } from "bun";
import type { Hono } from "hono";
import type { Logger } from "../log.ts";
import { FRONT_PEER_HEADER, FRONT_SECRET_HEADER } from "../proxy/forwarded.ts";
import { PEER_HOST_HEADER, PEER_KIND_HEADER, PeerVerifier, sha256Hex, type PeerKind, type SignedCall } from "./signing.ts";

const refused = (status: number, why: string) => Response.json({ error: { code: "peer_refused", message: `Peer call refused: ${why}.` } }, { status });

export interface PeerServerOptions {
  host: string;
  port: number;
  verifier: PeerVerifier;
  /** The control API over this node's previews only. */
  api: Hono;
  /** The proxy over this node's previews only. */
  proxy: { fetch: (req: Request, server: Server<never>) => Response | Promise<Response>; websocket: object };
  log: Logger;
  /** This node's id: a signature must name it as the recipient. */
  self: string;
  /** Largest API body a peer may send (it is read whole to check its hash). */
  maxApiBody: number;
  /** The secret of this node's peer front (proxy/fast), which checks a hop's signature itself and vouches for it. */
  frontSecret?: string;
  /** Node-to-node calls that are not part of the control API (a drain's hand-over): answered when they match. */
  peerOnly?: (req: Request) => Promise<Response | undefined>;
}

export function startPeerServer(o: PeerServerOptions): Server<unknown> {
  const log = o.log.child({ mod: "peer" });
  return Bun.serve({
    hostname: o.host,
    port: o.port,
    idleTimeout: 120,
    maxRequestBodySize: 4 * 1024 ** 3,
    websocket: o.proxy.websocket as never,
    async fetch(req, server) {
      // A hop the peer front took on a connection whose signature held (its nonce is spent: it is not checked twice).
      const vouched = !!o.frontSecret && req.headers.get(FRONT_SECRET_HEADER) === o.frontSecret && req.headers.has(FRONT_PEER_HEADER);
      if (vouched && req.headers.get(PEER_KIND_HEADER) === "proxy") return o.proxy.fetch(req, server as Server<never>);
      // An API call's body is part of its signature: read it (bounded) before the check.
      let body: ArrayBuffer | undefined;
      if (req.headers.get(PEER_KIND_HEADER) === "api") {
        if (Number(req.headers.get("content-length") ?? 0) > o.maxApiBody) return refused(413, "the body is larger than a peer call may be");
        body = await req.arrayBuffer();
      }
      const call = (kind: PeerKind): SignedCall => {
        if (kind === "proxy") return { to: o.self, method: "", target: req.headers.get(PEER_HOST_HEADER) ?? "" };
        const u = new URL(req.url);
        return { to: o.self, method: req.method, target: u.pathname + u.search, bodySha256: sha256Hex(body ?? "") };
      };
      const verdict = o.verifier.verify(req.headers, call);
      if ("refused" in verdict) {
        log.warn({ reason: verdict.refused, from: server.requestIP(req)?.address }, "refused a peer call");
        return refused(403, verdict.refused);
      }
      if (verdict.kind === "proxy") return o.proxy.fetch(req, server as Server<never>);
      const own = await o.peerOnly?.(req);
      if (own) return own;
      return o.api.fetch(new Request(req.url, { method: req.method, headers: req.headers, body: body && body.byteLength ? body : undefined }));
    },
  }) as Server<unknown>;
}
