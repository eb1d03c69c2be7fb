// The control API's view of previews on any node. Reads come from the store
// (every node shares it); a change goes to the node that runs the preview,
// over its peer listener; a create goes where placement says.
import type { PreviewService } from "../api/service.ts";
import { AppError, noCapacity, notFound } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { Orchestrator, PreviewStore } from "../orchestrator/index.ts";
import type { BrowserTier } from "../browser/index.ts";
import type { FlyTier } from "../overflow/tier.ts";
import { classifyTier } from "../tiers/classify.ts";
import type { FileMap, PreviewRecord, PreviewSpec, PreviewView } from "../types.ts";
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
  /** How long a create waits for room to show up before 503 (default 10 s; 1.5 s when Fly takes the overflow). */
  placementPatienceMs?: number;
  /** The Fly tier, when overflow is configured. */
  fly?: FlyTier;
  /** The browser tier (frontend-only apps, built and served as files). */
  browser?: BrowserTier;
}

export class ClusterPreviews implements PreviewService {
  constructor(private readonly o: RouterOptions) {}

  /**
   * Places a create: the placement's pick, and if that node turns out full
   * (its gossip was behind), the next pick. When no node seems to have room
   * the router waits for gossip to catch up (a burst frees and fills slots
   * faster than rumours travel) and only then answers 503.
   */
  async create(spec: PreviewSpec, opts: { wait?: boolean }): Promise<PreviewView> {
    // Every tier runs the Node.js line the files ask for: a version nothing offers (or a broken
    // package.json) is a 400 here, before a tier or a node is picked.
    const { runtime } = this.o.orch.prepare(spec.files);
    if (runtime) spec = { ...spec, runtime };
    const fly = this.o.fly;
    if (spec.tier === "fly") {
      if (!fly) throw new AppError("overflow_off", 503, "Fly.io overflow is off: FLY_API_TOKEN and FLY_APP are not set.");
      return fly.create(spec, "tier fly was asked for", opts);
    }
    const browser = this.o.browser;
    if (spec.tier === "browser") {
      if (!browser) throw new AppError("tier_unavailable", 400, "The browser tier is not available on this node.");
      // Asked for, but the app needs a server: say why rather than serve its source as files.
      const d = classifyTier(spec);
      if (d.tier !== "browser") throw new AppError("tier_unavailable", 400, `The browser tier cannot run this app: ${d.reasons.join("; ")}. Use tier container or auto.`, { reasons: d.reasons });
      return browser.create(spec, "tier browser was asked for", opts);
    }
    if (spec.tier === "auto" && browser) {
      const d = classifyTier(spec);
      if (d.tier === "browser") return browser.create(spec, d.reasons.join("; "), opts);
      spec = { ...spec, tierReason: `needs a server: ${d.reasons.join("; ")}` };
    }
    const overflow = fly && spec.tier === "auto" ? fly : undefined;
    const deadline = Date.now() + (this.o.placementPatienceMs ?? (overflow ? 1500 : 10_000));
    for (let round = 0; ; round++) {
      const refused = new Set<string>();
      for (;;) {
        const slot = this.o.view.place();
        if (!slot) break;
        if (refused.has(slot.node)) {
          slot.release();
          break;
        }
        try {
          if (slot.node === this.o.view.self) return await this.o.orch.create(spec, opts);
          const { tierReason: _reason, runtime: _runtime, ...body } = spec; // the daemon's own fields: the public API takes no such thing
          return await this.o.peers.json<PreviewView>(slot.node, "POST", `/v1/previews${opts.wait ? "?wait=1" : ""}`, { ...body, tier: "container" });
        } catch (err) {
          const code = (err as { code?: string }).code;
          if (code !== "no_capacity" && code !== "unavailable") throw err;
          refused.add(slot.node);
          this.o.log.info({ node: slot.node, code }, "placement target refused; trying another node");
        } finally {
          slot.release();
        }
      }
      if (Date.now() >= deadline) {
        if (overflow) return overflow.create(spec, "cluster full: no node has room", opts);
        throw noCapacity();
      }
      await Bun.sleep(Math.min(100 * 2 ** round, 800));
    }
  }

  async list(): Promise<PreviewView[]> {
    const views = await this.o.orch.list();
    if (!views.some((v) => v.tier !== "container")) return views;
    const others = new Map((await this.o.store.list()).filter((r) => r.tier !== "container").map((r) => [r.id, r]));
    return views.map((v) => (others.has(v.id) ? this.tierView(others.get(v.id)!) ?? v : v));
  }

  async get(id: string): Promise<PreviewView> {
    const fr = await this.onFly(id);
    if (fr) return this.o.fly!.view(fr);
    const br = await this.inBrowser(id);
    return br ? this.o.browser!.view(br) : this.o.orch.get(id);
  }

  private tierView(r: PreviewRecord): PreviewView | undefined {
    if (r.tier === "fly") return this.o.fly?.view(r);
    if (r.tier === "browser") return this.o.browser?.view(r);
    return undefined;
  }

  /** The record of a preview that runs on Fly, else undefined. */
  private async onFly(id: string): Promise<PreviewRecord | undefined> {
    if (!this.o.fly || this.o.orch.has(id)) return undefined;
    const r = await this.o.store.get(id);
    return r?.tier === "fly" ? r : undefined;
  }

  /** The record of a browser-tier preview, else undefined. */
  private async inBrowser(id: string): Promise<PreviewRecord | undefined> {
    if (!this.o.browser || this.o.orch.has(id)) return undefined;
    const r = await this.o.store.get(id);
    return r?.tier === "browser" ? r : undefined;
  }

  /** The node that runs `id`, or undefined when it is this one. */
  private async owner(id: string): Promise<string | undefined> {
    if (this.o.orch.has(id)) return undefined;
    const r = await this.o.store.get(id);
    if (!r) throw notFound("preview", id);
    return r.node === this.o.view.self ? undefined : r.node;
  }

  async updateFiles(id: string, files: FileMap, remove: string[]): Promise<PreviewView> {
    const br = await this.inBrowser(id);
    if (br) return this.o.browser!.updateFiles(br, files, remove);
    const fr = await this.onFly(id);
    if (fr) return this.o.fly!.updateFiles(fr, files, remove);
    const node = await this.owner(id);
    if (!node) return this.o.orch.updateFiles(id, files, remove);
    return this.o.peers.json(node, "PATCH", `/v1/previews/${id}/files`, { files, delete: remove });
  }

  async logs(id: string, opts: { tail?: number; follow?: boolean; signal?: AbortSignal }): Promise<ReadableStream<Uint8Array>> {
    const br = await this.inBrowser(id);
    if (br) return this.o.browser!.logs(br);
    const fr = await this.onFly(id);
    if (fr) return this.o.fly!.logs(fr);
    const node = await this.owner(id);
    if (!node) return this.o.orch.logs(id, opts);
    const q = `?tail=${opts.tail ?? 200}${opts.follow ? "&follow=1" : ""}`;
    return (await this.o.peers.call(node, "GET", `/v1/previews/${id}/logs${q}`, undefined, opts.signal)).body!;
  }

  async suspend(id: string): Promise<PreviewView> {
    const br = await this.inBrowser(id);
    if (br) return this.o.browser!.view(br); // nothing runs: nothing to suspend
    const fr = await this.onFly(id);
    if (fr) return this.o.fly!.suspend(fr);
    const node = await this.owner(id);
    return node ? this.o.peers.json(node, "POST", `/v1/previews/${id}/suspend`) : this.o.orch.suspend(id);
  }

  async resume(id: string): Promise<PreviewView> {
    const br = await this.inBrowser(id);
    if (br) return this.o.browser!.view(br);
    const fr = await this.onFly(id);
    if (fr) return this.o.fly!.resume(fr);
    const node = await this.owner(id);
    return node ? this.o.peers.json(node, "POST", `/v1/previews/${id}/resume`) : this.o.orch.resume(id);
  }

  async delete(id: string): Promise<void> {
    const br = await this.inBrowser(id);
    if (br) return this.o.browser!.delete(br);
    const fr = await this.onFly(id);
    if (fr) return this.o.fly!.delete(fr);
    const node = await this.owner(id);
    if (!node) return this.o.orch.delete(id);
    // The owner is gone: nothing runs it, so the record and schema are ours to drop.
    if (isGone(this.o.view, node)) return this.o.forget(id);
    await this.o.peers.call(node, "DELETE", `/v1/previews/${id}`);
  }

  async exportDatabase(id: string): Promise<ReadableStream<Uint8Array>> {
    const fr = await this.onFly(id);
    if (fr) return this.o.fly!.exportDatabase(fr);
    const node = await this.owner(id);
    if (!node) return this.o.orch.exportDatabase(id);
    return (await this.o.peers.call(node, "GET", `/v1/previews/${id}/database/export`)).body!;
  }
}
