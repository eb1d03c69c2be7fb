// Where a preview runs, for the proxy's slow path: this node (wake it, wait
// for it), else the node the store names, reached over its peer listener,
// else Fly's edge for a preview on Fly, else the built site of a browser-tier
// preview (answered here, from memory). Owners are cached briefly: a moved
// preview is found again within the TTL, and a burst of requests to a
// sibling's preview costs one store read.
import type { Orchestrator, PreviewStore } from "../orchestrator/index.ts";
import type { BrowserTier } from "../browser/index.ts";
import type { FlyTier } from "../overflow/tier.ts";
import type { ProxyTarget } from "../proxy/index.ts";
import type { PreviewRecord } from "../types.ts";
import type { PeerClient } from "./client.ts";
import type { SiblingEntry } from "../proxy/fast/thread-protocol.ts";

export function createLocator(o: { orch: Orchestrator; store: PreviewStore; peers: PeerClient; self: string; fly?: FlyTier; browser?: BrowserTier; ttlMs?: number }) {
  const owners = new Map<string, { record: PreviewRecord; until: number }>();
  const ttl = o.ttlMs ?? 2000;

  async function recordOf(id: string): Promise<PreviewRecord | undefined> {
    const hit = owners.get(id);
    if (hit && hit.until > Date.now()) return hit.record;
    const r = await o.store.get(id);
    if (!r) return undefined;
    if (owners.size > 100_000) owners.clear();
    owners.set(id, { record: r, until: Date.now() + ttl });
    return r;
  }

  async function resolve(id: string, host: string): Promise<ProxyTarget | undefined> {
    const local = await o.orch.resolve(id);
    if (local) return local;
    const r = await recordOf(id);
    if (!r) return undefined;
    if (r.tier === "browser") {
      if (!o.browser) return undefined;
      // Building: look again soon, so the finished build is served within a second of it.
      if (r.status !== "running") owners.delete(id);
      return { host: "", port: 0, respond: (req) => o.browser!.serve(r, req) };
    }
    if (r.tier === "fly") {
      if (!o.fly || !r.spec.fly?.machineId) return undefined;
      // Fly's edge starts a suspended machine itself (autostart); the record follows.
      if (r.status === "suspended" || r.status === "stopped") {
        owners.delete(id);
        await o.fly.woke(r).catch(() => {});
      }
      return o.fly.target(r);
    }
    if (r.node === o.self) return undefined;
    return o.peers.proxyTarget(r.node, host);
  }

  /**
   * The byte-level front's sibling hop, without waiting: a container preview
   * a recent lookup placed on a live sibling, as a target on its peer port, signed
   * per connection. Unknown or stale (past the TTL): undefined, and the request takes
   * the general path, whose lookup fills the cache again. An entry in use is read
   * again in the background before it goes stale, so a busy preview's hop stays fast.
   */
  function sibling(id: string, host: string): ReturnType<PeerClient["hopTarget"]> {
    const r = liveSibling(id);
    if (!r) return undefined;
    refreshSoon(id, Date.now());
    return o.peers.hopTarget(r.node, host);
  }

  function liveSibling(id: string): PreviewRecord | undefined {
    const hit = owners.get(id);
    if (!hit || hit.until <= Date.now()) return undefined;
    const r = hit.record;
    if (r.tier === "browser" || r.tier === "fly" || r.node === o.self || r.status !== "running") return undefined;
    return r;
  }

  const refreshing = new Set<string>();
  /** Reads again, in the background, the records of these ids whose cache entries are past half their TTL. */
  function keepFresh(ids: Iterable<string>): void {
    const now = Date.now();
    for (const id of ids) refreshSoon(id, now);
  }

  function refreshSoon(id: string, now: number): void {
    const hit = owners.get(id);
    if (!hit || hit.until - now > ttl / 2 || refreshing.has(id)) return;
    refreshing.add(id);
    o.store.get(id).then(
      (r) => (r ? owners.set(id, { record: r, until: Date.now() + ttl }) : owners.delete(id)),
      () => {}, // the store is away: the entry goes stale, and requests take the general path, which says so
    ).finally(() => refreshing.delete(id));
  }

  /** The front threads' copy of the sibling hops: [id, node, peer host, peer port, until (ms epoch)]. */
  function siblings(): SiblingEntry[] {
    const out: SiblingEntry[] = [];
    for (const [id, hit] of owners) {
      const r = liveSibling(id);
      const addr = r && o.peers.addrOrUndefined(r.node);
      if (addr) out.push([id, r.node, addr.host, addr.port, hit.until]);
    }
    return out;
  }

  return { resolve, sibling, siblings, keepFresh };
}
