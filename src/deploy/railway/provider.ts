// Deploying a preview to Railway, step by step (spec/api.md, deployment
// object). Each step can run again after a crash without creating anything
// twice: ids are saved the moment Railway hands them out, and where that
// moment could be lost (killed between the mutation and the save) the step
// first looks for what a previous run made (the project by the deployment id
// in its description, services by name, deployments of the service).
import { randomBytes } from "node:crypto";
import postgres from "postgres";
import { tarFiles } from "../../pool/tar.ts";
import { restoreDump } from "../restore.ts";
import { poll, type DeployProvider, type StepContext } from "../runner.ts";
import type { DeploySource } from "../source.ts";
import type { DeploymentRecord, DeploymentStatus } from "../types.ts";
import { compareStats, schemaStats } from "../verify.ts";
import { RailwayError } from "./client.ts";
import { publicDatabaseUrl } from "./database.ts";
import type { RailwayApi, RailwayDeployment } from "./operations.ts";
import { RollbackSteps } from "./rollback.ts";
import { deploymentSince } from "./since.ts";
import { UpdateSteps } from "./update.ts";

export interface RailwayProviderOptions {
  api: RailwayApi;
  source: DeploySource;
  workspaceId?: string;
  postgresImage: string;
  /** Unset: check https://{domain}. Set (the local fake): this base URL with Host: {domain}. */
  edgeUrl?: string;
  /** How long a build plus start may take. */
  deployTimeoutMs: number;
  /** How long the new database may take to accept connections. */
  databaseTimeoutMs?: number;
  pollMs?: number;
  /** An update's rehearsal copies at most this many rows of each table (a sample past it). */
  rehearsalMaxRows?: number;
}

const DB_SERVICE = "Postgres";
const APP_SERVICE = "web";
const IN_PROGRESS = new Set(["QUEUED", "WAITING", "INITIALIZING", "BUILDING", "NEEDS_APPROVAL"]);
const BROKEN = new Set(["FAILED", "CRASHED", "REMOVED", "REMOVING", "SKIPPED"]);

export const marker = (d: DeploymentRecord) => `previewd deployment ${d.id} of preview ${d.previewId}`;

export class RailwayProvider implements DeployProvider {
  private readonly pollMs: number;
  private readonly update: UpdateSteps;
  private readonly rollback: RollbackSteps;

  constructor(private readonly o: RailwayProviderOptions) {
    this.pollMs = o.pollMs ?? 2000;
    this.update = new UpdateSteps({ api: o.api, source: o.source, rehearsalMaxRows: o.rehearsalMaxRows ?? 1_000_000 });
    this.rollback = new RollbackSteps({ api: o.api, pollMs: this.pollMs });
  }

  plan(src: { hasDatabase: boolean }, d: DeploymentRecord): DeploymentStatus[] {
    const app: DeploymentStatus[] = ["uploading", "building", "deploying"];
    switch (d.mode) {
      case "update":
        // Production's rows stay production's: no export, no restore; the schema change is carried instead.
        return src.hasDatabase && d.providerIds.databaseServiceId ? ["diffing", "rehearsing", "migrating", ...app] : app;
      case "rollback":
        return ["rolling_back", "deploying", ...(d.plan?.statements.length ? ["reverting_schema" as const] : [])];
      default:
        return src.hasDatabase ? ["exporting", "provisioning", "restoring", "verifying_data", ...app] : ["provisioning", ...app];
    }
  }

  run(step: DeploymentStatus, ctx: StepContext): Promise<string> {
    switch (step) {
      case "exporting": return this.exporting(ctx);
      case "provisioning": return this.provisioning(ctx);
      case "restoring": return this.restoring(ctx);
      case "verifying_data": return this.verifying(ctx);
      case "uploading": return this.uploading(ctx);
      case "building": return this.building(ctx);
      case "deploying": return this.deploying(ctx);
      case "diffing": return this.update.diffing(ctx);
      case "rehearsing": return this.update.rehearsing(ctx);
      case "migrating": return this.update.migrating(ctx);
      case "rolling_back": return this.rollback.rollingBack(ctx);
      case "reverting_schema": return this.rollback.revertingSchema(ctx);
      default: throw new Error(`Railway deploys have no step ${step}.`);
    }
  }

  private async exporting(ctx: StepContext): Promise<string> {
    const { stats, bytes } = await this.o.source.export(ctx.source.id, ctx.deployment.id);
    const rows = Object.values(stats.tables).reduce((n, t) => n + t.rows, 0);
    return `exported ${Object.keys(stats.tables).length} tables, ${rows} rows (${Math.ceil(bytes / 1024)} KiB)`;
  }

  private async provisioning(ctx: StepContext): Promise<string> {
    const api = this.o.api;
    const d = ctx.deployment;
    if (!d.providerIds.projectId) {
      const mine = (await api.projects(this.o.workspaceId, ctx.signal)).find((p) => p.description === marker(d));
      if (mine) {
        const env = mine.environments.find((e) => e.name === "production") ?? mine.environments[0];
        await ctx.saveIds({ projectId: mine.id, environmentId: env?.id });
      } else {
        const name = d.request.projectName ?? `preview-${d.previewId}`;
        const p = await api.createProject({ name, description: marker(d), workspaceId: this.o.workspaceId || undefined }, ctx.signal);
        await ctx.saveIds({ projectId: p.id, environmentId: p.environmentId });
      }
    }
    if (!ctx.source.hasDatabase) return `project ${d.providerIds.projectId} ready`;
    const ids = { projectId: d.providerIds.projectId!, environmentId: d.providerIds.environmentId! };
    if (!d.providerIds.databaseServiceId) {
      const found = (await api.services(ids.projectId, ctx.signal)).find((s) => s.name === DB_SERVICE);
      const svc = found ?? (await api.createService({ ...ids, name: DB_SERVICE, source: { image: this.o.postgresImage }, variables: postgresVariables() }, ctx.signal));
      await ctx.saveIds({ databaseServiceId: svc.id });
      if (!found) {
        const vol = await api.createVolume({ ...ids, serviceId: svc.id, mountPath: "/var/lib/postgresql/data" }, ctx.signal);
        await ctx.saveIds({ volumeId: vol.id });
      }
    }
    const serviceId = d.providerIds.databaseServiceId!;
    await ctx.progress("Postgres service created; opening public TCP access for the restore");
    if ((await api.tcpProxies(ids.environmentId, serviceId, ctx.signal)).length === 0) {
      await api.enableTcpProxy(ids.environmentId, serviceId, 5432, ctx.signal);
    }
    await poll("Railway's TCP proxy for Postgres", async () => (await api.tcpProxies(ids.environmentId, serviceId, ctx.signal)).find((p) => p.syncStatus === "ACTIVE"),
      { everyMs: this.pollMs, timeoutMs: 5 * 60_000, signal: ctx.signal });
    await ctx.progress("waiting for the new database to accept connections");
    const url = await this.publicDatabaseUrl(ctx);
    await poll("the new Railway database", () => canConnect(url), { everyMs: this.pollMs, timeoutMs: this.o.databaseTimeoutMs ?? 5 * 60_000, signal: ctx.signal });
    return `Postgres service ready at ${new URL(url).host}`;
  }

  private async restoring(ctx: StepContext): Promise<string> {
    const url = await this.publicDatabaseUrl(ctx);
    // A restore of an earlier run (this daemon killed under it) may still be
    // running in psql, which outlives its parent: end it, so its transaction
    // either committed already or is rolled back before we look.
    await endEarlierRestores(url);
    if (await hasTables(url)) return "the database already holds the restored tables (an earlier run finished the restore)";
    // A resume on a node that lost its export (new data dir): export again, restore that.
    if (!(await this.o.source.savedStats(ctx.deployment.id))) await this.o.source.export(ctx.source.id, ctx.deployment.id);
    const started = performance.now();
    await restoreDump(this.o.source.exportFile(ctx.deployment.id), url, { signal: ctx.signal });
    return `restored in ${((performance.now() - started) / 1000).toFixed(1)} s`;
  }

  private async verifying(ctx: StepContext): Promise<string> {
    const source = await this.o.source.savedStats(ctx.deployment.id);
    if (!source) throw new Error("the export's statistics are gone (data dir wiped?); delete this deployment and deploy again");
    const sql = postgres(await this.publicDatabaseUrl(ctx), { max: 1, ssl: "prefer", onnotice: () => {}, connect_timeout: 10 });
    try {
      const copy = await sql.begin((tx) => schemaStats(tx as never, "public"));
      const { check, differences } = compareStats(source, copy);
      await ctx.save({ data: check });
      if (differences.length) throw new Error(`the restored data differs from the preview's: ${differences.slice(0, 5).join("; ")}`);
      return `${check.tables} tables, ${check.rows} rows and ${check.sequences} sequences equal the preview's`;
    } finally {
      await sql.end({ timeout: 5 });
    }
  }

  private async uploading(ctx: StepContext): Promise<string> {
    const api = this.o.api;
    const d = ctx.deployment;
    const ids = { projectId: d.providerIds.projectId!, environmentId: d.providerIds.environmentId! };
    if (!d.providerIds.serviceId) {
      const found = (await api.services(ids.projectId, ctx.signal)).find((s) => s.name === APP_SERVICE);
      const variables = { ...ctx.source.env, ...(ctx.source.hasDatabase ? { DATABASE_URL: "${{Postgres.DATABASE_URL}}" } : {}) };
      const svc = found ?? (await api.createService({ ...ids, name: APP_SERVICE, variables }, ctx.signal));
      await ctx.saveIds({ serviceId: svc.id });
    }
    const serviceId = d.providerIds.serviceId!;
    if (!d.providerIds.domain) {
      const dom = await api.createDomain({ environmentId: ids.environmentId, serviceId }, ctx.signal);
      await ctx.saveIds({ domain: dom.domain });
    }
    let carried = "";
    if (d.mode === "update" && !d.providerIds.deploymentId) {
      // Production's variables are production's (its own secrets): only keys it has never had come from the preview.
      const have = await api.unrenderedVariables({ ...ids, serviceId }, ctx.signal);
      const fresh = Object.fromEntries(Object.entries(ctx.source.env).filter(([k]) => !(k in have) && k !== "DATABASE_URL"));
      if (Object.keys(fresh).length) {
        await api.upsertVariables({ ...ids, serviceId, variables: fresh, skipDeploys: true }, ctx.signal);
        carried = `; new variables ${Object.keys(fresh).sort().join(", ")} added (existing ones kept)`;
      }
    }
    if (!d.providerIds.deploymentId) {
      // An upload that timed out may still have made a deployment: never upload twice.
      const earlier = await deploymentSince(api, ctx, serviceId);
      if (earlier) {
        await ctx.saveIds({ deploymentId: earlier.id });
      } else {
        const tgz = Bun.gzipSync(new Uint8Array(await tarFiles(ctx.source.files)));
        await ctx.progress(`uploading ${Object.keys(ctx.source.files).length} files (${Math.ceil(tgz.byteLength / 1024)} KiB gzipped)`);
        try {
          const up = await api.client.upload({ ...ids, serviceId }, tgz, ctx.signal);
          await ctx.saveIds({ deploymentId: up.deploymentId });
        } catch (e) {
          const maybe = e instanceof RailwayError && (e.kind === "timeout" || e.kind === "network") ? await deploymentSince(api, ctx, serviceId) : undefined;
          if (!maybe) throw e;
          await ctx.saveIds({ deploymentId: maybe.id });
        }
      }
    }
    return `source uploaded; Railway deployment ${d.providerIds.deploymentId}${carried}`;
  }

  private async building(ctx: StepContext): Promise<string> {
    const dep = await this.waitDeployment(ctx, (s) => !IN_PROGRESS.has(s));
    return `built (Railway status ${dep.status})`;
  }

  private async deploying(ctx: StepContext): Promise<string> {
    await this.waitDeployment(ctx, (s) => s === "SUCCESS");
    const domain = ctx.deployment.providerIds.domain!;
    const url = `https://${domain}`;
    await ctx.progress(`deployed; waiting for ${url} to answer`);
    const status = await poll(`${url} to answer`, () => this.answers(domain), { everyMs: this.pollMs, timeoutMs: 3 * 60_000, signal: ctx.signal });
    await ctx.save({ url });
    return `${url} answers (HTTP ${status})`;
  }

  /** Polls the Railway deployment until `done(status)`; a broken status fails the step with the log's last lines. */
  private async waitDeployment(ctx: StepContext, done: (status: string) => boolean): Promise<RailwayDeployment> {
    const id = ctx.deployment.providerIds.deploymentId!;
    let last = "";
    return poll(`Railway deployment ${id}`, async () => {
      if (await ctx.cancelled()) throw new Error("deployment removed while it ran");
      const dep = await this.o.api.deployment(id, ctx.signal);
      if (dep.status !== last) await ctx.progress(`Railway status ${(last = dep.status)}`);
      if (BROKEN.has(dep.status)) {
        const which = dep.status === "CRASHED" ? "deploy" : "build";
        const lines = await this.o.api.logs(id, which, 15, ctx.signal).catch(() => []);
        throw new Error(`Railway deployment ${dep.status}${lines.length ? `; last ${which} log lines: ${lines.join(" | ")}` : ""}`);
      }
      return done(dep.status) ? dep : undefined;
    }, { everyMs: this.pollMs, timeoutMs: this.o.deployTimeoutMs, signal: ctx.signal });
  }

  private publicDatabaseUrl(ctx: StepContext): Promise<string> {
    return publicDatabaseUrl(this.o.api, ctx.deployment.providerIds, ctx.signal);
  }

  /** The HTTP status the deployed app answers with, once it is not the edge's own 502/503/504. */
  private async answers(domain: string): Promise<number | undefined> {
    const target = this.o.edgeUrl ? new URL("/", this.o.edgeUrl).toString() : `https://${domain}/`;
    try {
      const res = await fetch(target, { headers: this.o.edgeUrl ? { host: domain } : {}, redirect: "manual", signal: AbortSignal.timeout(10_000) });
      await res.body?.cancel();
      return [502, 503, 504].includes(res.status) ? undefined : res.status;
    } catch {
      return undefined;
    }
  }

  async teardown(d: DeploymentRecord): Promise<void> {
    let projectId = d.providerIds.projectId;
    // Killed between projectCreate and saving its id: find it by its description.
    projectId ??= (await this.o.api.projects(this.o.workspaceId)).find((p) => p.description === marker(d))?.id;
    if (!projectId) return;
    try {
      await this.o.api.deleteProject(projectId);
    } catch (e) {
      if (!(e instanceof RailwayError && /not found/i.test(e.message))) throw e;
    }
  }
}

/** What Railway's Postgres template sets (reference 2.8), with a fresh password. */
export function postgresVariables(): Record<string, string> {
  return {
    POSTGRES_USER: "postgres",
    POSTGRES_PASSWORD: randomBytes(18).toString("hex"),
    POSTGRES_DB: "railway",
    PGDATA: "/var/lib/postgresql/data/pgdata",
    PGUSER: "${{POSTGRES_USER}}",
    PGPASSWORD: "${{POSTGRES_PASSWORD}}",
    PGDATABASE: "${{POSTGRES_DB}}",
    PGHOST: "${{RAILWAY_PRIVATE_DOMAIN}}",
    PGPORT: "5432",
    DATABASE_URL: "postgresql://${{PGUSER}}:${{POSTGRES_PASSWORD}}@${{RAILWAY_PRIVATE_DOMAIN}}:5432/${{PGDATABASE}}",
    DATABASE_PUBLIC_URL: "postgresql://${{PGUSER}}:${{POSTGRES_PASSWORD}}@${{RAILWAY_TCP_PROXY_DOMAIN}}:${{RAILWAY_TCP_PROXY_PORT}}/${{PGDATABASE}}",
  };
}

async function canConnect(url: string): Promise<true | undefined> {
  const sql = postgres(url, { max: 1, ssl: "prefer", onnotice: () => {}, connect_timeout: 5 });
  try {
    await sql`SELECT 1`;
    return true;
  } catch {
    return undefined;
  } finally {
    await sql.end({ timeout: 2 }).catch(() => {});
  }
}

async function hasTables(url: string): Promise<boolean> {
  const sql = postgres(url, { max: 1, ssl: "prefer", onnotice: () => {}, connect_timeout: 10 });
  try {
    const [r] = await sql`SELECT count(*)::int AS n FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')`;
    return (r!.n as number) > 0;
  } finally {
    await sql.end({ timeout: 2 });
  }
}

async function endEarlierRestores(url: string): Promise<void> {
  const sql = postgres(url, { max: 1, ssl: "prefer", onnotice: () => {}, connect_timeout: 10 });
  try {
    const others = () => sql`SELECT pid FROM pg_stat_activity WHERE application_name = 'previewd-restore' AND pid <> pg_backend_pid()`;
    for (const { pid } of await others()) await sql`SELECT pg_terminate_backend(${pid as number})`;
    for (let i = 0; i < 100 && (await others()).length > 0; i++) await Bun.sleep(100);
  } finally {
    await sql.end({ timeout: 2 });
  }
}
