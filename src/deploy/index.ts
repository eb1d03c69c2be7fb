// deploy/: promoting a preview to a real deployment (Railway), as a step
// machine whose every step is recorded in the shared store. This node runs
// the deployments it started, resumes its unfinished ones at start, and any
// node can show or remove any deployment.
import { customAlphabet } from "nanoid";
import { isAppError, notFound } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { DeployProvider, StepContext } from "./runner.ts";
import type { DeploySource, PreviewSource } from "./source.ts";
import type { DeploymentStore } from "./store.ts";
import { FINAL, type DeploymentRecord, type DeployRequest, type ProviderIds } from "./types.ts";

export { DeploymentStore, publicView } from "./store.ts";
export type { Deployment, DeploymentRecord, DeployRequest } from "./types.ts";

const newId = customAlphabet("0123456789abcdefghijklmnopqrstuvwxyz", 16);

export interface DeploymentsOptions {
  store: DeploymentStore;
  source: DeploySource;
  provider: DeployProvider;
  node: string;
  log: Logger;
  /** Drops the preview's schema and role (request `cleanup`, once live). */
  dropDatabase(previewId: string): Promise<void>;
  /** PREVIEWD_DEPLOY_CLEANUP: cleanup when the request does not say. */
  cleanupByDefault: boolean;
}

export class Deployments {
  private readonly running = new Map<string, { ac: AbortController; done: Promise<void> }>();
  private stopping = false;

  constructor(private readonly o: DeploymentsOptions) {}

  async create(previewId: string, req: { provider: "railway"; projectName?: string; cleanup?: boolean }): Promise<DeploymentRecord> {
    await this.o.source.preview(previewId); // 404 before anything is recorded
    const request: DeployRequest = { provider: req.provider, cleanup: req.cleanup ?? this.o.cleanupByDefault, ...(req.projectName ? { projectName: req.projectName } : {}) };
    const d = await this.o.store.insert({ id: `d_${newId()}`, previewId, node: this.o.node, request });
    this.start(d);
    return d;
  }

  async get(id: string): Promise<DeploymentRecord> {
    const d = await this.o.store.get(id);
    if (!d) throw notFound("deployment", id);
    return d;
  }

  list(previewId: string): Promise<DeploymentRecord[]> {
    return this.o.store.listForPreview(previewId);
  }

  /** Stops it if it runs, removes what it made at the provider, and marks it removed. */
  async remove(id: string): Promise<DeploymentRecord> {
    const d = await this.get(id);
    if (d.status === "removed") return d;
    await this.o.store.requestCancel(id);
    const local = this.running.get(id);
    if (local) {
      local.ac.abort(new Error("deployment removed"));
      await local.done;
    }
    const fresh = (await this.o.store.get(id))!;
    await this.o.provider.teardown(fresh);
    this.o.source.forget(id);
    await this.o.store.update(id, { status: "removed" });
    this.o.log.info({ deployment: id }, "deployment removed at the provider");
    return (await this.o.store.get(id))!;
  }

  /** Picks up this node's unfinished deployments (after a restart or a crash). */
  async resume(): Promise<number> {
    const open = await this.o.store.unfinished(this.o.node);
    for (const d of open) {
      this.o.log.info({ deployment: d.id, status: d.status }, "resuming deployment");
      this.start(d);
    }
    return open.length;
  }

  /** Daemon stop: abort the runs; they resume from their last finished step at the next start. */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const r of this.running.values()) r.ac.abort(new Error("daemon stopping"));
    await Promise.all([...this.running.values()].map((r) => r.done));
  }

  private start(d: DeploymentRecord): void {
    const ac = new AbortController();
    const done = this.run(d, ac.signal)
      .catch((err) => this.o.log.error({ err, deployment: d.id }, "deployment runner failed"))
      .finally(() => this.running.delete(d.id));
    this.running.set(d.id, { ac, done });
  }

  private async run(d: DeploymentRecord, signal: AbortSignal): Promise<void> {
    const store = this.o.store;
    let source: PreviewSource | undefined;
    try {
      source = await this.o.source.preview(d.previewId);
      const ctx = this.context(d, source, signal);
      for (const step of this.o.provider.plan(source)) {
        if (d.steps.some((s) => s.name === step && s.endedAt)) continue;
        if (await ctx.cancelled()) return;
        d.steps = [...d.steps.filter((s) => s.name !== step), { name: step, startedAt: new Date().toISOString() }];
        d.status = step;
        await store.update(d.id, { status: step, steps: d.steps });
        const detail = await this.o.provider.run(step, ctx);
        d.steps = d.steps.map((s) => (s.name === step ? { ...s, endedAt: new Date().toISOString(), detail } : s));
        await store.update(d.id, { steps: d.steps });
      }
      const now = new Date().toISOString();
      let detail = d.url ? `live at ${d.url}` : "live";
      if (d.request.cleanup && source.hasDatabase) {
        await this.o.dropDatabase(d.previewId);
        detail += "; the preview's schema was dropped (cleanup)";
      }
      d.steps = [...d.steps, { name: "live", startedAt: now, endedAt: now, detail }];
      await store.update(d.id, { status: "live", steps: d.steps });
      this.o.source.forget(d.id);
      this.o.log.info({ deployment: d.id, preview: d.previewId, url: d.url }, "deployment live");
    } catch (err) {
      if (this.stopping || (await store.get(d.id))?.cancel) return; // resumed at the next start / removed by DELETE
      const message = isAppError(err) || err instanceof Error ? err.message : String(err);
      const step = FINAL.has(d.status) ? "queued" : d.status;
      d.steps = d.steps.map((s) => (s.name === step && !s.endedAt ? { ...s, endedAt: new Date().toISOString(), detail: "failed" } : s));
      await store.update(d.id, { status: "failed", steps: d.steps, error: { step, message } });
      this.o.log.warn({ deployment: d.id, step, message }, "deployment failed; the preview is untouched");
    }
  }

  private context(d: DeploymentRecord, source: PreviewSource, signal: AbortSignal): StepContext {
    const store = this.o.store;
    return {
      deployment: d,
      source,
      signal,
      saveIds: async (ids: Partial<ProviderIds>) => {
        Object.assign(d.providerIds, ids);
        await store.update(d.id, { providerIds: d.providerIds });
      },
      save: async (p) => {
        if (p.url) d.url = p.url;
        if (p.data) d.data = p.data;
        await store.update(d.id, p);
      },
      progress: async (detail: string) => {
        d.steps = d.steps.map((s) => (s.name === d.status && !s.endedAt ? { ...s, detail } : s));
        await store.update(d.id, { steps: d.steps });
      },
      cancelled: async () => signal.aborted || !!(await store.get(d.id))?.cancel,
    };
  }
}
