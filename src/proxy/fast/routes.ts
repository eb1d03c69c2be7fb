// Where the front sends a request. The public port: a preview running here
// goes to its container; one running on a sibling, to that sibling's peer
// port (the owner is known from the general path's recent lookups), over a
// connection signed once (peer/signing.ts); anything else to the general
// path. The peer port: a hop for a preview running here goes to its
// container once its connection is authenticated; API calls and hops that
// need more (a wake) go to the peer listener behind it.
import { PEER_HOST_HEADER, PEER_KIND_HEADER, PEER_SIG_HEADER, type PeerVerifier } from "../../peer/signing.ts";
import type { Decision } from "../../access/table.ts";
import { SHARE_PARAM } from "../../access/cookie.ts";
import { previewIdFromHost } from "../host.ts";
import type { ProxyTarget } from "../index.ts";
import { field as fieldOf, type RequestHead } from "./head.ts";

/** Where one request goes (routes.ts decides). */
export interface Route {
  to: { host: string; port: number };
  /** A preview on this node: the request takes a slot of its limit and counts in its idle clock. */
  id?: string;
  /**
   * Relayed to an app (or a sibling's front): hop-by-hop, peer and forwarding
   * fields rewritten. Otherwise it goes to the general path as it came, with
   * the front's secret and the client's address added.
   */
  app: boolean;
  /** Keep the forwarding fields it came with (a signed sibling hop, a trusted TLS terminator). */
  trusted?: boolean;
  /** To a sibling's peer front: the fields that say which preview, signed on a connection's first request. */
  hop?: SiblingHop;
  /** To the general path from the peer front: the node whose signed connection it came on. */
  peer?: string;
  /** Timed in the request metrics (the public port only: a hop would count twice). */
  observe?: boolean;
}

export type Routing = Route | { refuse: 403; reason: string };

/** A request's way to a sibling's peer front (peer/signing.ts). */
export interface SiblingHop {
  /** Head lines naming the preview, for a request on a connection already signed. */
  fields: string;
  /** Those fields signed, for the first request on a connection. */
  sign(): Record<string, string>;
}

/** What the router knows of a client connection. */
export interface ClientConnection {
  ip: string;
  /** On the peer port: the node whose signed first request authenticated this connection. */
  peer?: string;
}

type Address = { host: string; port: number };

const SHARE_PARAM_EQ = `${SHARE_PARAM}=`;

/** A target the relay may take a request to by itself: plain HTTP, nothing answered in-process. */
const plain = (t: ProxyTarget | undefined): t is ProxyTarget => !!t && !t.tls && !t.respond;

export function publicRoutes(o: {
  domain: string;
  /**
   * Private previews (access/table.ts): a request the table lets through
   * (public, or a valid access cookie) is relayed here; a denied or undecided
   * one, and any share link, goes to the general path, which answers it
   * (access/gate.ts). Unset: every preview is open (tests of the relay alone).
   */
  access?: { decide(id: string, cookie: string | undefined): Decision };
  /** A preview running on this node (renews its idle clock). */
  lookup(id: string): ProxyTarget | undefined;
  /** A preview known to run on a sibling: its peer address and how to sign for it, from a recent lookup only. */
  sibling?(id: string, host: string): (Address & { hop: SiblingHop }) | undefined;
  general: Address;
  trustsForwarded(ip: string): boolean;
}) {
  const general: Route = { to: o.general, app: false };
  return (head: RequestHead, conn: ClientConnection, fast: boolean): Routing => {
    if (!fast) return general;
    const id = previewIdFromHost(head.host, o.domain);
    if (id === undefined) return general;
    if (o.access) {
      if (head.target.includes(SHARE_PARAM_EQ)) return general;
      const d = o.access.decide(id, fieldOf(head, "cookie"));
      if (d !== "open" && d !== "granted") return general;
    }
    const local = o.lookup(id);
    if (plain(local) && !local.headers) return { to: local, id, app: true, trusted: o.trustsForwarded(conn.ip), observe: true };
    if (local) return general;
    const sib = o.sibling?.(id, head.host!);
    if (sib) return { to: sib, app: true, trusted: o.trustsForwarded(conn.ip), hop: sib.hop, observe: true };
    return general;
  };
}

export function peerRoutes(o: { domain: string; lookup(id: string): ProxyTarget | undefined; verifier: PeerVerifier; self: string; general: Address }) {
  const general: Route = { to: o.general, app: false };
  return (head: RequestHead, conn: ClientConnection, fast: boolean): Routing => {
    const field = (name: string) => fieldOf(head, name);
    // API calls: the peer listener checks their signatures (it reads their bodies).
    if (field(PEER_KIND_HEADER) !== "proxy") return general;
    const host = field(PEER_HOST_HEADER) ?? "";
    if (field(PEER_SIG_HEADER) !== undefined || conn.peer === undefined) {
      // A connection's first hop is signed; once it holds, the connection is that node's for its life.
      const verdict = o.verifier.verifyFields(field, () => ({ to: o.self, method: "", target: host }));
      if ("refused" in verdict) return { refuse: 403, reason: `peer call refused: ${verdict.refused}` };
      conn.peer = verdict.node;
    }
    const id = previewIdFromHost(host, o.domain);
    const local = id === undefined ? undefined : o.lookup(id);
    // Not running here (the peer listener wakes it), or more than the relay handles: the general path, vouched for.
    if (!fast || !plain(local) || local.headers) return { to: o.general, app: false, peer: conn.peer };
    return { to: local, id, app: true, trusted: true };
  };
}
