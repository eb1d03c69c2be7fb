// The control API's view of previews on any node. Reads come from the store
// (every node shares it); a change goes to the node that runs the preview,
// over its peer listener; a create goes where placement says.
import type { PreviewService } from "../api/service.ts";
import { noCapacity, notFound } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { Orchestrator, PreviewStore } from "../orchestrator/index.ts";
import type { FileMap, PreviewSpec, PreviewView } from "../types.ts";
import type { PeerClient } from "./client.ts";
import { isGone, type ClusterView } from "./view.ts";

export interface RouterOptions {
  orch: Orchestrator;
  store: PreviewStore;
  view: ClusterView;
  peers: PeerClient;
  log: Logger;
  /** Deletes what is left of a preview whose node is gone (record, schema). */
  forget(id: string): Promise<void>;
}

export class ClusterPreviews implements PreviewService {
  constructor(private readonly o: RouterOptions) {}

  async create(spec: PreviewSpec, opts: { wait?: boolean }): Promise<PreviewView> {
    const tried = new Set<string>();
    // A sibling that filled up since its last gossip says 503: try the next best.
    for (let attempt = 0; attempt < 3; attempt++) {
      const slot = this.o.view.place();
      if (!slot || tried.has(slot.node)) break;
      tried.add(slot.node);
      try {
        if (slot.node === this.o.view.self) return await this.o.orch.create(spec, opts);
        return await this.o.peers.json<PreviewView>(slot.node, "POST", `/v1/previews${opts.wait ? "?wait=1" : ""}`, { ...spec, tier: "container" });
      } catch (err) {
        if ((err as { code?: string }).code !== "no_capacity" && (err as { code?: string }).code !== "unavailable") throw err;
        this.o.log.warn({ node: slot.node, err }, "placement target refused; trying another node");
      } finally {
        slot.release();
      }
    }
    throw noCapacity();
  }

  list(): Promise<PreviewView[]> {
    return this.o.orch.list();
  }

  get(id: string): Promise<PreviewView> {
    return this.o.orch.get(id);
  }

  /** The node that runs `id`, or undefined when it is this one. */
  private async owner(id: string): Promise<string | undefined> {
    if (this.o.orch.has(id)) return undefined;
    const r = await this.o.store.get(id);
    if (!r) throw notFound("preview", id);
    return r.node === this.o.view.self ? undefined : r.node;
  }

  async updateFiles(id: string, files: FileMap, remove: string[]): Promise<PreviewView> {
    const node = await this.owner(id);
    if (!node) return this.o.orch.updateFiles(id, files, remove);
    return this.o.peers.json(node, "PATCH", `/v1/previews/${id}/files`, { files, delete: remove });
  }

  async logs(id: string, opts: { tail?: number; follow?: boolean; signal?: AbortSignal }): Promise<ReadableStream<Uint8Array>> {
    const node = await this.owner(id);
    if (!node) return this.o.orch.logs(id, opts);
    const q = `?tail=${opts.tail ?? 200}${opts.follow ? "&follow=1" : ""}`;
    return (await this.o.peers.call(node, "GET", `/v1/previews/${id}/logs${q}`, undefined, opts.signal)).body!;
  }

  async suspend(id: string): Promise<PreviewView> {
    const node = await this.owner(id);
    return node ? this.o.peers.json(node, "POST", `/v1/previews/${id}/suspend`) : this.o.orch.suspend(id);
  }

  async resume(id: string): Promise<PreviewView> {
    const node = await this.owner(id);
    return node ? this.o.peers.json(node, "POST", `/v1/previews/${id}/resume`) : this.o.orch.resume(id);
  }

  async delete(id: string): Promise<void> {
    const node = await this.owner(id);
    if (!node) return this.o.orch.delete(id);
    // The owner is gone: nothing runs it, so the record and schema are ours to drop.
    if (isGone(this.o.view, node)) return this.o.forget(id);
    await this.o.peers.call(node, "DELETE", `/v1/previews/${id}`);
  }

  async exportDatabase(id: string): Promise<string> {
    const node = await this.owner(id);
    if (!node) return this.o.orch.exportDatabase(id);
    return (await this.o.peers.call(node, "GET", `/v1/previews/${id}/database/export`)).text();
  }
}
