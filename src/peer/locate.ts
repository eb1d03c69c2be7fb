// Where a preview runs, for the proxy's slow path: this node (wake it, wait
// for it), else the node the store names, reached over its peer listener.
// Owners are cached briefly: a moved preview is found again within the TTL,
// and a burst of requests to a sibling's preview costs one store read.
import type { Orchestrator, PreviewStore } from "../orchestrator/index.ts";
import type { ProxyTarget } from "../proxy/index.ts";
import type { PeerClient } from "./client.ts";

export function createLocator(o: { orch: Orchestrator; store: PreviewStore; peers: PeerClient; self: string; ttlMs?: number }) {
  const owners = new Map<string, { node: string; until: number }>();
  const ttl = o.ttlMs ?? 2000;

  async function ownerOf(id: string): Promise<string | undefined> {
    const hit = owners.get(id);
    if (hit && hit.until > Date.now()) return hit.node;
    const r = await o.store.get(id);
    if (!r) return undefined;
    if (owners.size > 100_000) owners.clear();
    owners.set(id, { node: r.node, until: Date.now() + ttl });
    return r.node;
  }

  return async function resolve(id: string, host: string): Promise<ProxyTarget | undefined> {
    const local = await o.orch.resolve(id);
    if (local) return local;
    const node = await ownerOf(id);
    if (!node || node === o.self) return undefined;
    return o.peers.proxyTarget(node, host);
  };
}
