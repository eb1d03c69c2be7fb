// Where the front sends a request. The public port: a preview running here
// goes to its container; one running on a sibling, to that sibling's peer
// port, signed (the owner is known from the general path's recent lookups);
// anything else to the general path. The peer port: a signed hop for a
// preview running here goes to its container once the signature holds; API
// calls and hops that need more (a wake) go to the peer listener behind it.
import { PEER_HEADERS, PEER_HOST_HEADER, PEER_KIND_HEADER, type PeerVerifier } from "../../peer/signing.ts";
import { previewIdFromHost } from "../host.ts";
import type { ProxyTarget } from "../index.ts";
import type { RequestHead } from "./head.ts";
import type { Route, Routing } from "./relay.ts";

type Address = { host: string; port: number };

/** A target the relay may take a request to by itself: plain HTTP, nothing answered in-process. */
const plain = (t: ProxyTarget | undefined): t is ProxyTarget => !!t && !t.tls && !t.respond;

export function publicRoutes(o: {
  domain: string;
  /** A preview running on this node (renews its idle clock). */
  lookup(id: string): ProxyTarget | undefined;
  /** A preview known to run on a sibling: its peer address and signed fields, from a recent lookup only. */
  sibling?(id: string, host: string): ProxyTarget | undefined;
  general: Address;
  trustsForwarded(ip: string): boolean;
}) {
  const general: Route = { to: o.general, app: false };
  return (head: RequestHead, ip: string, fast: boolean): Routing => {
    if (!fast) return general;
    const id = previewIdFromHost(head.host, o.domain);
    if (id === undefined) return general;
    const local = o.lookup(id);
    if (plain(local) && !local.headers) return { to: local, id, app: true, trusted: o.trustsForwarded(ip), observe: true };
    if (local) return general;
    const sib = o.sibling?.(id, head.host!);
    if (plain(sib)) return { to: sib, app: true, trusted: o.trustsForwarded(ip), extra: sib.headers, observe: true };
    return general;
  };
}

export function peerRoutes(o: { domain: string; lookup(id: string): ProxyTarget | undefined; verifier: PeerVerifier; self: string; general: Address }) {
  const general: Route = { to: o.general, app: false };
  return (head: RequestHead, _ip: string, fast: boolean): Routing => {
    if (!fast) return general;
    const field = (name: string) => head.fields.find((f) => f.name === name)?.value;
    if (field(PEER_KIND_HEADER) !== "proxy") return general;
    const host = field(PEER_HOST_HEADER) ?? "";
    const id = previewIdFromHost(host, o.domain);
    const local = id === undefined ? undefined : o.lookup(id);
    // Not running here: the peer listener wakes it (and checks the signature itself).
    if (!plain(local) || local.headers) return general;
    const signed = new Headers();
    for (const name of PEER_HEADERS) {
      const v = field(name);
      if (v !== undefined) signed.set(name, v);
    }
    const verdict = o.verifier.verify(signed, () => ({ to: o.self, method: "", target: host }));
    if ("refused" in verdict) return { refuse: 403, reason: `peer call refused: ${verdict.refused}` };
    return { to: local, id, app: true, trusted: true };
  };
}
