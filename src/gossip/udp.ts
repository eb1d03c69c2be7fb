// Gossip over UDP on the peer port (the TCP side of the same number is the
// peer HTTP listener). One datagram per message; messages stay well under
// the 1400-byte path MTU budget except full-state syncs, which loopback and
// LAN carry as fragmented datagrams up to 64 KB.
//
// With the cluster secret, every datagram is addressed (envelope.ts,
// `address`/`route`): signed for the address it is sent to and the sender's
// advertised address. A datagram addressed to another node is refused and
// counted ("misaddressed"): a capture replayed to a different node does
// nothing. "Addressed to me" means this socket's port and a host that is
// this node: its advertised or bind address, one of its interfaces' addresses
// when bound to all of them, or a name (a PREVIEWD_PEERS seed) that resolves
// to one of those.
//
// Where replies go: the membership code answers `from` (acks, sync replies,
// relayed acks). We hand it the signed sender's advertised address, not the
// packet's source address. The source is not signed (anyone can send from
// any address), so answering it let a replayed or spoofed datagram reflect
// an ack or a full-state sync (up to 64 KB for a few hundred bytes) at any
// address; the advertised address is where the sender's own rumours say it
// is reached, the same one memnet.ts passes and every member already dials.
import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import { networkInterfaces } from "node:os";
import { Envelope } from "./envelope.ts";
import type { Transport } from "./transport.ts";

export async function udpTransport(host: string, port: number, advertise?: string, secret?: string): Promise<Transport> {
  let handler: (from: string, bytes: Uint8Array) => void = () => {};
  const routes = secret ? new Envelope(secret) : undefined;
  let isSelf: (to: string) => boolean | Promise<boolean> = () => true;
  const socket = await Bun.udpSocket({
    hostname: host,
    port,
    socket: {
      data(_s, data, peerPort, peerAddr) {
        if (!routes) return handler(`${peerAddr}:${peerPort}`, data);
        const r = routes.route(data);
        if (!r) return;
        const mine = isSelf(r.to);
        if (mine === true) handler(r.from, r.sealed);
        else if (mine === false) routes.drop("misaddressed");
        else void mine.then((ok) => (ok ? handler(r.from, r.sealed) : routes.drop("misaddressed")));
      },
      // A datagram to a node that is down comes back as "port unreachable":
      // that is what probes are for, not an error of ours.
      error() {},
    },
  });
  const addr = `${advertise ?? host}:${socket.port}`;
  isSelf = selfCheck(host, advertise ?? host, socket.port);
  return {
    addr,
    dropped: routes?.dropped,
    send(to, bytes) {
      const i = to.lastIndexOf(":");
      const out = routes ? routes.address(to, addr, bytes) : bytes;
      const put = (ip: string) => {
        try {
          socket.send(out, Number(to.slice(i + 1)), ip);
        } catch {
          // ECONNREFUSED from an earlier datagram to a dead node: the probe will notice; UDP is best effort.
        }
      };
      const h = to.slice(0, i).replace(/^\[|\]$/g, "");
      // Bun's socket.send takes IP addresses only ("Invalid address" for a name): a seed given by name is resolved here.
      if (isIP(h)) put(h);
      else void resolveName(h).then((ip) => ip && put(ip));
    },
    onMessage(h) {
      handler = h;
    },
    async close() {
      socket.close();
    },
  };
}

/** Whether `host:port` is this socket; names are resolved once a minute (a promise then). */
function selfCheck(bindHost: string, advertiseHost: string, port: number): (to: string) => boolean | Promise<boolean> {
  const wildcard = bindHost === "0.0.0.0" || bindHost === "::";
  let locals = new Set<string>();
  let localsAt = 0;
  const isLocal = (ip: string): boolean => {
    if (ip === bindHost || ip === advertiseHost) return true;
    if (!wildcard) return false;
    if (Date.now() - localsAt > 5000) {
      locals = new Set(Object.values(networkInterfaces()).flatMap((l) => (l ?? []).map((a) => a.address)));
      localsAt = Date.now();
    }
    return locals.has(ip);
  };
  const names = new Map<string, { at: number; ok: Promise<boolean> }>();
  return (to) => {
    const i = to.lastIndexOf(":");
    if (i < 0 || Number(to.slice(i + 1)) !== port) return false;
    const h = to.slice(0, i).replace(/^\[|\]$/g, "");
    if (h === advertiseHost || h === bindHost) return true;
    if (isIP(h)) return isLocal(h);
    const hit = names.get(h);
    if (hit && Date.now() - hit.at < 60_000) return hit.ok;
    const ok = lookup(h, { all: true }).then((as) => as.some((a) => isLocal(a.address)), () => false);
    names.set(h, { at: Date.now(), ok });
    return ok;
  };
}

const resolved = new Map<string, { at: number; ip: Promise<string | undefined> }>();

/** A name's first address (IPv4 first), cached for a minute. */
function resolveName(name: string): Promise<string | undefined> {
  const hit = resolved.get(name);
  if (hit && Date.now() - hit.at < 60_000) return hit.ip;
  const ip = lookup(name, { family: 4 }).then((a) => a.address, () => lookup(name).then((a) => a.address, () => undefined));
  resolved.set(name, { at: Date.now(), ip });
  return ip;
}
