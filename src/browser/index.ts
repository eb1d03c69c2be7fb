// The browser tier (static runtime): a frontend-only app is built once per
// change in the sandbox, its output is kept in the shared store, and every
// node serves it from memory at the preview's URL. No container stays: a
// browser preview costs disk, not memory. The node that took the create (or
// the PATCH) runs the build; one that restarts picks up its unfinished ones.
import { customAlphabet } from "nanoid";
import { conflict } from "../errors.ts";
import { InstallError, OutputLog } from "../deps/index.ts";
import { Lifecycle } from "../lifecycle/index.ts";
import type { Logger } from "../log.ts";
import type { PreviewStore } from "../orchestrator/ports.ts";
import { toView } from "../orchestrator/view.ts";
import type { FileMap, PreviewRecord, PreviewSpec, PreviewView } from "../types.ts";
import { BuildError, type StaticBuilder } from "./build.ts";
import { Launcher, type LauncherSettings } from "./launcher.ts";
import { serveSite } from "./serve.ts";
import type { SiteStore } from "./sites.ts";

const newBuildId = customAlphabet("0123456789abcdefghijklmnopqrstuvwxyz", 10);

export interface BrowserTierOptions {
  store: PreviewStore;
  sites: SiteStore;
  builder: StaticBuilder;
  node: string;
  newId(): string;
  previewUrl(id: string): string;
  log: Logger;
  /** PREVIEWD_BROWSER_RUNTIME=webcontainer: page loads get the WebContainer launcher (launcher.ts). */
  webcontainer?: LauncherSettings;
  /** The node's lifecycle (one for every tier); unset: one of its own. */
  lifecycle?: Lifecycle;
}

interface Building {
  ac: AbortController;
  done: Promise<void>;
  output: OutputLog;
  phase: string;
}

export class BrowserTier {
  private readonly building = new Map<string, Building>();
  private readonly launcher?: Launcher;
  private readonly lifecycle: Lifecycle;

  constructor(private readonly o: BrowserTierOptions) {
    if (o.webcontainer) this.launcher = new Launcher({ ...o.webcontainer, store: o.store, log: o.log });
    this.lifecycle = o.lifecycle ?? new Lifecycle({ store: o.store, log: o.log });
  }

  async create(spec: PreviewSpec, reason: string, opts: { wait?: boolean } = {}): Promise<PreviewView> {
    if (spec.database) throw conflict("A browser-tier preview has no server, so no database: ask for tier container.");
    const id = this.o.newId();
    const now = new Date();
    const r: PreviewRecord = { id, node: "browser", tier: "browser", status: "starting", spec: { ...spec, files: {}, tierReason: reason, browser: { builtBy: this.o.node } }, createdAt: now, lastActiveAt: now };
    await this.lifecycle.insert({ record: r }, {}, `browser tier: ${reason}`);
    await this.o.store.putFiles(id, spec.files);
    const done = this.startBuild(r, spec.files);
    if (opts.wait) await done;
    return this.view(r);
  }

  async updateFiles(r: PreviewRecord, files: FileMap, remove: string[]): Promise<PreviewView> {
    await this.o.store.putFiles(r.id, files, remove);
    this.launcher?.changed(r.id);
    void this.startBuild(r, await this.o.store.files(r.id));
    return this.view(r);
  }

  async delete(r: PreviewRecord): Promise<void> {
    this.stopBuild(r.id);
    await this.o.store.remove(r.id); // its site goes with it (ON DELETE CASCADE)
    this.o.sites.forget(r.id);
  }

  view(r: PreviewRecord): PreviewView {
    const v = toView(r, this.o.previewUrl(r.id));
    const b = this.building.get(r.id);
    if (b && (r.status === "starting" || r.status === "installing")) v.phase = b.phase;
    return v;
  }

  /** The build's output: live while this node builds, else the last build's log. */
  async logs(r: PreviewRecord): Promise<ReadableStream<Uint8Array>> {
    const b = this.building.get(r.id);
    const text = b ? b.output.tail(400) + "\n" : ((await this.o.sites.log(r.id)) ?? "");
    return new Response(text).body!;
  }

  /** Answers a request to the preview's URL: the site, or a short page while it builds or after a failure. */
  async serve(r: PreviewRecord, req: Request): Promise<Response> {
    const launched = this.launcher?.handle(r, req);
    if (launched) return launched;
    const buildId = r.spec.browser?.buildId;
    const site = buildId ? await this.o.sites.get(r.id, buildId) : undefined;
    if (site) return serveSite(site, req);
    if (r.status === "failed") return page(502, "This preview's build failed", r.failure ?? "See its logs.");
    return page(503, "This preview is being built", "The page reloads by itself when it is ready.", true);
  }

  /** Builds this node started and did not finish (a restart in between): built again. */
  async resumeBuilds(): Promise<number> {
    const mine = (await this.o.store.list()).filter((r) => r.tier === "browser" && r.spec.browser?.builtBy === this.o.node && (r.status === "starting" || r.status === "installing"));
    for (const r of mine) void this.startBuild(r, await this.o.store.files(r.id));
    return mine.length;
  }

  /** Stops running builds and waits for them to end (their containers and disks released). */
  async stop(): Promise<void> {
    this.launcher?.stop();
    const running = [...this.building.values()].map((b) => b.done);
    for (const id of [...this.building.keys()]) this.stopBuild(id);
    await Promise.all(running);
  }

  private stopBuild(id: string): void {
    const b = this.building.get(id);
    b?.ac.abort(new Error("superseded"));
    this.building.delete(id);
  }

  /** One build at a time per preview: a newer PATCH aborts the running one. Never rejects. */
  private startBuild(r: PreviewRecord, files: FileMap): Promise<void> {
    this.stopBuild(r.id);
    const b: Building = { ac: new AbortController(), output: new OutputLog(), phase: "building", done: Promise.resolve() };
    this.building.set(r.id, b);
    const write = (t: string) => {
      b.output.write(t);
      const m = /^\[previewd\] (.+)$/m.exec(t);
      if (m) b.phase = m[1]!;
    };
    b.done = (async () => {
      const current = () => this.building.get(r.id) === b;
      try {
        r.spec.browser = { builtBy: this.o.node, buildId: r.spec.browser?.buildId };
        await this.lifecycle.move({ record: r }, "starting", "building", { patch: { spec: r.spec } });
        const buildId = newBuildId();
        const sourceHash = await this.o.builder.sourceHash(files);
        if (await this.o.sites.reuse(r.id, buildId, sourceHash)) {
          write("[previewd] the same files were built before: reusing that output\n");
        } else {
          const out = await this.o.builder.build(r.id, files, write, b.ac.signal);
          if (!current()) return;
          await this.o.sites.save(r.id, buildId, out, b.output.tail(400), sourceHash);
          this.o.log.info({ id: r.id, files: out.size }, "browser preview built");
        }
        if (!current()) return;
        r.spec.browser = { builtBy: this.o.node, buildId };
        await this.lifecycle.move({ record: r }, "running", "built", { patch: { spec: r.spec } });
      } catch (err) {
        if (!current()) return;
        const why = err instanceof BuildError || err instanceof InstallError ? (err as Error).message : `The build could not run: ${(err as Error).message}`;
        const failure = `${why}\n${b.output.errorExcerpt(20)}`.trim();
        await this.o.sites.saveLog(r.id, b.output.tail(400)).catch(() => {});
        await this.lifecycle.move({ record: r }, "failed", "the build failed", { failure }).catch((e) => this.o.log.warn({ err: e, id: r.id }, "could not record a failed build"));
        this.o.log.warn({ id: r.id, why }, "browser preview build failed");
      } finally {
        if (current()) this.building.delete(r.id);
      }
    })();
    return b.done;
  }
}

function page(status: number, title: string, text: string, reload = false): Response {
  const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);
  // While it builds: look every 300 ms (a build takes about a second) and reload once the site answers; the meta refresh is for pages without JS.
  const watch = reload
    ? `<meta http-equiv="refresh" content="3"><script>setInterval(()=>fetch(location.href,{cache:"no-store"}).then(r=>{if(r.status!==503)location.reload()},()=>{}),300)</script>`
    : "";
  const html = `<!doctype html><meta charset="utf-8"><title>${esc(title)}</title>${watch}<h1>${esc(title)}</h1><pre>${esc(text)}</pre>`;
  return new Response(html, { status, headers: { "content-type": "text/html; charset=utf-8", "cache-control": "no-store", ...(status === 503 ? { "retry-after": "2" } : {}) } });
}
