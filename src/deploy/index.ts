// deploy/: promoting a preview to a real deployment (Railway), as a step
// machine whose every step is recorded in the shared store. This node runs
// the deployments it started, resumes its unfinished ones at start, and any
// node can show or remove any deployment.
import { customAlphabet } from "nanoid";
import { badRequest, conflict, isAppError, notFound } from "../errors.ts";
import type { Logger } from "../log.ts";
import { StepError, type DeployProvider, type StepContext } from "./runner.ts";
import type { DeploySource, PreviewSource } from "./source.ts";
import type { DeploymentStore } from "./store.ts";
import { FINAL, type DeploymentMode, type DeploymentRecord, type DeployRequest, type ProviderIds } from "./types.ts";

export { DeploymentStore, publicView } from "./store.ts";
export type { Deployment, DeploymentRecord, DeployRequest } from "./types.ts";

export interface CreateRequest {
  provider: "railway";
  projectName?: string;
  cleanup?: boolean;
  mode?: "create" | "update";
  confirm?: string[];
}

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

  /**
   * A preview with a live deployment is updated by default (same project, new code, the schema change carried,
   * production's rows kept); `mode: "create"` makes a new project with the preview's data.
   */
  async create(previewId: string, req: CreateRequest): Promise<DeploymentRecord> {
    const source = await this.o.source.preview(previewId); // 404 before anything is recorded
    const live = (await this.o.store.listForPreview(previewId)).find((d) => d.status === "live");
    const mode: DeploymentMode = req.mode ?? (live ? "update" : "create");
    const request: DeployRequest = { provider: req.provider, cleanup: req.cleanup ?? this.o.cleanupByDefault, mode, ...(req.projectName ? { projectName: req.projectName } : {}) };
    if (req.confirm?.length) request.confirm = req.confirm;
    let providerIds: ProviderIds | undefined;
    if (mode === "update") {
      if (!live) throw conflict(`Preview ${previewId} has no live deployment to update; deploy without "mode" (or with "mode": "create") to make one.`);
      if (req.projectName) throw badRequest(`body.projectName names a new project, but this deploy updates the live one (${live.id}); send "mode": "create" for a new project.`);
      if (source.hasDatabase && !live.providerIds.databaseServiceId) {
        throw conflict(`The live deployment ${live.id} has no database and the preview now has one: an update does not add a database; send "mode": "create" for a new project with the preview's data.`);
      }
      const { deploymentId, ...kept } = live.providerIds;
      providerIds = kept;
      Object.assign(request, { base: live.id, ...(deploymentId ? { previousProviderDeploymentId: deploymentId } : {}) });
    }
    const d = await this.o.store.insert({ id: `d_${newId()}`, previewId, node: this.o.node, request, providerIds });
    this.start(d);
    return d;
  }

  /**
   * Puts the code that served before an update back. Only the newest live update of a preview rolls back; the
   * schema change stays unless it was additive-only and nothing uses it (the `reverting_schema` step says which).
   */
  async rollback(id: string): Promise<DeploymentRecord> {
    const d = await this.get(id);
    if (d.mode !== "update") throw conflict(d.mode === "rollback" ? `Deployment ${id} is a rollback; deploy again to change the code.` : `Deployment ${id} is a first deployment: there is no earlier code to go back to.`);
    if (d.status !== "live") throw conflict(`Deployment ${id} is ${d.status}, not live: only a live update rolls back.`);
    const all = await this.o.store.listForPreview(d.previewId);
    const newer = all.slice(0, all.findIndex((x) => x.id === id)).find((x) => x.status === "live");
    if (newer) throw conflict(`Deployment ${newer.id} is newer and live; roll that one back instead.`);
    const base = d.request.base ? await this.o.store.get(d.request.base) : undefined;
    const rollbackTo = base?.providerIds.deploymentId;
    if (!rollbackTo) throw conflict(`The deployment ${id} updated has no provider deployment to go back to.`);
    const { deploymentId, ...kept } = d.providerIds;
    const request: DeployRequest = { provider: d.provider, cleanup: false, mode: "rollback", base: d.id, rollbackTo, ...(deploymentId ? { previousProviderDeploymentId: deploymentId } : {}) };
    // Only what this update itself ran on production can be undone; what production already had stays.
    const ran = d.plan?.applied ?? [];
    const applied = ran.length ? { statements: ran } : undefined;
    const r = await this.o.store.insert({ id: `d_${newId()}`, previewId: d.previewId, node: this.o.node, request, providerIds: kept, plan: applied });
    this.start(r);
    return r;
  }

  async get(id: string): Promise<DeploymentRecord> {
    const d = await this.o.store.get(id);
    if (!d) throw notFound("deployment", id);
    return d;
  }

  list(previewId: string): Promise<DeploymentRecord[]> {
    return this.o.store.listForPreview(previewId);
  }

  /**
   * Stops it if it runs. A first deployment, or any live one, takes its Railway project with it (and every
   * record of that project is marked removed); an update or rollback that is running or failed leaves
   * production as it is and is only marked removed.
   */
  async remove(id: string): Promise<DeploymentRecord> {
    const d = await this.get(id);
    if (d.status === "removed") return d;
    const deletesProject = d.mode === "create" || d.status === "live";
    await this.o.store.requestCancel(id);
    const local = this.running.get(id);
    if (local) {
      local.ac.abort(new Error("deployment removed"));
      await local.done;
    }
    const fresh = (await this.o.store.get(id))!;
    if (deletesProject) {
      await this.o.provider.teardown(fresh);
      if (fresh.providerIds.projectId) await this.o.store.markProjectRemoved(fresh.providerIds.projectId);
    }
    this.o.source.forget(id);
    await this.o.store.update(id, { status: "removed" });
    this.o.log.info({ deployment: id, project: deletesProject }, deletesProject ? "deployment removed at the provider" : "deployment removed; production left as it is");
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
      for (const step of this.o.provider.plan(source, d)) {
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
      const details = err instanceof StepError ? err.details : undefined;
      const step = FINAL.has(d.status) ? "queued" : d.status;
      d.steps = d.steps.map((s) => (s.name === step && !s.endedAt ? { ...s, endedAt: new Date().toISOString(), detail: "failed" } : s));
      await store.update(d.id, { status: "failed", steps: d.steps, error: { step, message, ...(details !== undefined ? { details } : {}) } });
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
        if (p.migration) d.migration = p.migration;
        if (p.plan) d.plan = p.plan;
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
