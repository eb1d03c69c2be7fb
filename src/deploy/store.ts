// previewd.deployments: one row per deployment, shared by the cluster. Every
// step writes here before the next starts, so any node can show progress and
// the node that runs it can resume after a restart.
import type { Sql } from "../db/client.ts";
import { conflict } from "../errors.ts";
import type { DataCheck, DeploymentError, DeploymentMode, DeploymentRecord, DeploymentStatus, DeploymentStep, DeployRequest, MigrationPlanRecord, MigrationView, ProviderIds } from "./types.ts";

interface Row {
  id: string;
  preview_id: string;
  provider: string;
  status: string;
  url: string | null;
  error: string | null;
  error_step: string | null;
  node: string;
  request: DeployRequest;
  steps: DeploymentStep[];
  provider_ids: ProviderIds;
  data: DataCheck | null;
  cancel: boolean;
  mode: string;
  migration: MigrationView | null;
  plan: MigrationPlanRecord | null;
  error_details: unknown;
  created_at: Date;
  updated_at: Date;
}

export interface DeploymentPatch {
  status?: DeploymentStatus;
  steps?: DeploymentStep[];
  url?: string;
  data?: DataCheck;
  providerIds?: ProviderIds;
  error?: DeploymentError;
  migration?: MigrationView;
  plan?: MigrationPlanRecord;
}

export class DeploymentStore {
  constructor(private readonly sql: Sql) {}

  /** Inserts a queued deployment; a deployment already running for the preview is a 409 (unique partial index). */
  async insert(d: { id: string; previewId: string; node: string; request: DeployRequest; providerIds?: ProviderIds; plan?: MigrationPlanRecord }): Promise<DeploymentRecord> {
    try {
      const [row] = await this.sql<Row[]>`
        INSERT INTO previewd.deployments (id, preview_id, provider, status, node, request, mode, provider_ids, plan)
        VALUES (${d.id}, ${d.previewId}, ${d.request.provider}, 'queued', ${d.node}, ${this.sql.json(d.request as never)}, ${d.request.mode},
                ${this.sql.json((d.providerIds ?? {}) as never)}, ${d.plan ? this.sql.json(d.plan as never) : null})
        RETURNING *`;
      return toRecord(row!);
    } catch (e) {
      if ((e as { code?: string }).code === "23505") {
        throw conflict(`Preview ${d.previewId} already has a deployment in progress; wait for it or DELETE it first.`);
      }
      throw e;
    }
  }

  async get(id: string): Promise<DeploymentRecord | undefined> {
    const [row] = await this.sql<Row[]>`SELECT * FROM previewd.deployments WHERE id = ${id}`;
    return row && toRecord(row);
  }

  async listForPreview(previewId: string): Promise<DeploymentRecord[]> {
    const rows = await this.sql<Row[]>`SELECT * FROM previewd.deployments WHERE preview_id = ${previewId} ORDER BY created_at DESC, id`;
    return rows.map(toRecord);
  }

  /** Deployments this node started and has not finished (resumed at start-up). */
  async unfinished(node: string): Promise<DeploymentRecord[]> {
    const rows = await this.sql<Row[]>`
      SELECT * FROM previewd.deployments WHERE node = ${node} AND status NOT IN ('live', 'failed', 'removed') ORDER BY created_at`;
    return rows.map(toRecord);
  }

  async update(id: string, p: DeploymentPatch): Promise<void> {
    const set: Record<string, unknown> = {};
    if (p.status !== undefined) set.status = p.status;
    if (p.steps !== undefined) set.steps = this.sql.json(p.steps as never);
    if (p.url !== undefined) set.url = p.url;
    if (p.data !== undefined) set.data = this.sql.json(p.data as never);
    if (p.providerIds !== undefined) set.provider_ids = this.sql.json(p.providerIds as never);
    if (p.migration !== undefined) set.migration = this.sql.json(p.migration as never);
    if (p.plan !== undefined) set.plan = this.sql.json(p.plan as never);
    if (p.error !== undefined) {
      set.error = p.error.message;
      set.error_step = p.error.step;
      set.error_details = p.error.details === undefined ? null : this.sql.json(p.error.details as never);
    }
    if (Object.keys(set).length === 0) return;
    await this.sql`UPDATE previewd.deployments SET ${this.sql(set)}, updated_at = now() WHERE id = ${id}`;
  }

  /** Every record of a project marked removed (the project itself is gone at the provider). */
  async markProjectRemoved(projectId: string): Promise<void> {
    await this.sql`UPDATE previewd.deployments SET status = 'removed', updated_at = now() WHERE provider_ids->>'projectId' = ${projectId} AND status <> 'removed'`;
  }

  /** Marks a running deployment for teardown; true when it was still running. */
  async requestCancel(id: string): Promise<boolean> {
    const rows = await this.sql`
      UPDATE previewd.deployments SET cancel = true, updated_at = now()
      WHERE id = ${id} AND status NOT IN ('live', 'failed', 'removed') RETURNING id`;
    return rows.length === 1;
  }
}

function toRecord(r: Row): DeploymentRecord {
  const d: DeploymentRecord = {
    id: r.id,
    previewId: r.preview_id,
    provider: "railway",
    status: r.status as DeploymentStatus,
    steps: r.steps,
    providerIds: r.provider_ids,
    createdAt: r.created_at.toISOString(),
    updatedAt: r.updated_at.toISOString(),
    node: r.node,
    request: r.request,
    cancel: r.cancel,
    mode: (r.mode ?? "create") as DeploymentMode,
  };
  if (r.migration) d.migration = r.migration;
  if (r.plan) d.plan = r.plan;
  if (r.url) d.url = r.url;
  if (r.data) d.data = r.data;
  if (r.error !== null) d.error = { step: r.error_step ?? "unknown", message: r.error, ...(r.error_details != null ? { details: r.error_details } : {}) };
  return d;
}

/** The public object (spec/api.md): what the record holds minus the daemon's own fields. */
export function publicView(d: DeploymentRecord) {
  const { node: _n, request: _r, cancel: _c, plan: _p, ...view } = d;
  return view;
}
