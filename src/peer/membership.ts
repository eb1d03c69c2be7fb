// Gossip membership as the rest of the daemon sees it (ClusterView): the
// SWIM node on the peer port's UDP side, this node's room published as its
// metadata, and placement with reservations.
import { networkInterfaces } from "node:os";
import type { Config } from "../config.ts";
import { lanProfile, localProfile, testProfile } from "../gossip/profiles.ts";
import { Swim } from "../gossip/swim.ts";
import { udpTransport } from "../gossip/udp.ts";
import type { Logger } from "../log.ts";
import { Placement } from "./placement.ts";
import { roomOf, type ClusterView, type MemoryStats } from "./view.ts";

export interface MembershipHandle {
  view: ClusterView;
  swim: Swim;
  /** Gossip datagrams dropped, by reason: the envelope's (unsigned, forged, stale, replayed) plus the wire's (misaddressed). */
  dropped(): Record<string, number>;
  /** How long after start this node should not take over others' previews (gossip converging). */
  graceMs: number;
  stop(): Promise<void>;
}

export async function startMembership(o: { config: Config; peerPort: number; capacity: number; running: () => number; memory?: () => MemoryStats; log: Logger; draining?: () => boolean }): Promise<MembershipHandle> {
  const profile = { lan: lanProfile, local: localProfile, test: testProfile }[o.config.gossipProfile];
  const transport = await udpTransport(o.config.host, o.peerPort, advertiseHost(o.config.host), o.config.clusterSecret || undefined);
  const meta = () => {
    const running = o.running();
    // A draining node shows no room: siblings place nothing here and take no orphans here.
    const memory = o.memory?.();
    // Free memory in 64 MiB steps: resident sizes move all the time, and every change of the meta is a new rumour.
    const mb = (b: number, step = 1) => Math.floor(b / 1048576 / step) * step;
    return {
      capacity: o.capacity, running, free: o.draining?.() ? 0 : roomOf(o.capacity, running, memory),
      ...(memory && { memoryFreeMb: mb(memory.freeBytes, 64), memoryTotalMb: mb(memory.totalBytes) }),
    };
  };
  const swim = new Swim({
    id: o.config.nodeId, transport, secret: o.config.clusterSecret, seeds: o.config.peers, profile, meta: meta(),
    log: o.log.child({ mod: "gossip" }),
    // A node stopped on purpose keeps its previews this long (it is restarting, not dead).
    leftGraceMs: o.config.restartGrace * 1000,
    onChange: (m, before) => {
      if (before !== m.state) o.log.info({ node: m.id, from: before ?? "unknown", to: m.state }, "cluster member changed");
    },
  });
  swim.start();
  // Room changes are published at most every 200 ms (coalesced), so a burst of creates is one rumour.
  const publish = setInterval(() => swim.setMeta(meta()), 200);
  const placement = new Placement(swim.id, () => swim.view(), meta);
  const view: ClusterView = {
    self: swim.id,
    nodes: () =>
      swim.view().map((m) => {
        const live = m.id === swim.id ? meta() : m.meta;
        const node = {
          id: m.id, state: m.state, capacity: live.capacity, running: live.running, free: live.free, addr: m.addr,
          ...(live.memoryFreeMb !== undefined && { memory: { total: (live.memoryTotalMb ?? 0) * 1048576, free: live.memoryFreeMb * 1048576 } }),
        };
        return m.id === swim.id ? { ...node, localHealth: swim.localHealth } : node;
      }),
    addrOf: (node) => swim.view().find((m) => m.id === node && m.state !== "dead")?.addr,
    place: () => placement.place(),
  };
  return {
    view,
    swim,
    dropped: () => {
      const out: Record<string, number> = { ...swim.envelope.dropped };
      for (const [k, n] of Object.entries(transport.dropped ?? {})) out[k] = (out[k] ?? 0) + n;
      return out;
    },
    graceMs: profile.suspicionMult * profile.probeIntervalMs * 3,
    async stop() {
      clearInterval(publish);
      await swim.stop();
    },
  };
}

/** The address others reach us at: the bind address, or the first outside IPv4 when bound to all. */
function advertiseHost(host: string): string {
  if (host !== "0.0.0.0" && host !== "::") return host;
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === "IPv4" && !a.internal) return a.address;
  }
  return "127.0.0.1";
}
