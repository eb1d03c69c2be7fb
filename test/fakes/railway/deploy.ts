// A deployment's life, shared by app and database services (Railway docs,
// deployments/reference: QUEUED → BUILDING → DEPLOYING → SUCCESS, FAILED when
// the build or the healthcheck fails, CRASHED when the process exits after
// it started, REMOVED once a newer deployment replaced it). One container per
// deployment: its output before the build-done marker is the build log, the
// rest the deploy log, and it is SUCCESS once its readiness check passes.
import type { FakeDocker } from "./docker.ts";
import type { Deployment, Environment, Project, Service, State } from "./state.ts";
import { log, newId, privateDomain, setStatus } from "./state.ts";

export interface DeployContext {
  state: State;
  docker: FakeDocker;
  /** The fake's own data directory (uploads, database volumes). */
  dir: string;
  memoryMb: number;
  /** How long a build may take before the deployment is FAILED. */
  buildTimeoutMs: number;
  /** How long a started container has to pass its readiness check. */
  readyTimeoutMs: number;
  /** Called with every error the background work swallows (the fake must not crash a test process). */
  onError: (err: unknown) => void;
}

export interface RunPlan {
  cmd: string[];
  env: Record<string, string>;
  binds: string[];
  memoryMb?: number;
  /** Output line that ends the build phase (never logged). Unset: no build, the image just runs. */
  buildDoneMarker?: string;
  /** Polled while DEPLOYING with the container's address: true once it serves. */
  ready: (ip: string) => Promise<boolean>;
  /** A database holds a lock on its data: the old container must go before the new one starts. */
  stopPreviousFirst?: boolean;
}

export function newDeployment(project: Project, env: Environment, service: Service, source: Deployment["source"]): Deployment {
  const now = new Date();
  const d: Deployment = {
    id: newId(),
    projectId: project.id,
    environmentId: env.id,
    serviceId: service.id,
    status: "QUEUED",
    createdAt: now,
    updatedAt: now,
    statusUpdatedAt: now,
    buildLogs: [],
    deployLogs: [],
    source,
  };
  service.deployments.push(d);
  return d;
}

/** Marks a deployment FAILED with a reason in its build log (no container involved). */
export function failBuild(d: Deployment, message: string): void {
  log(d.buildLogs, message, "error");
  setStatus(d, "FAILED");
}

/** Stops a deployment's container and marks it REMOVED (a newer one took over, or its project went). */
export async function retire(ctx: DeployContext, d: Deployment): Promise<void> {
  const terminal = d.status === "FAILED" || d.status === "CRASHED" || d.status === "REMOVED";
  if (!terminal) setStatus(d, "REMOVING");
  const id = d.containerId;
  d.containerId = undefined;
  await ctx.docker.remove(id);
  if (!terminal) setStatus(d, "REMOVED");
}

/** Runs one deployment to a resting state. Never throws: failures become FAILED with a log line. */
export async function runDeployment(ctx: DeployContext, project: Project, service: Service, d: Deployment, plan: RunPlan): Promise<void> {
  try {
    if (plan.stopPreviousFirst) for (const old of service.deployments) if (old !== d && old.containerId) await retire(ctx, old);
    if (d.status !== "QUEUED") return; // retired before it started (project deleted, superseded)
    setStatus(d, plan.buildDoneMarker ? "BUILDING" : "DEPLOYING");
    if (!project.network) throw new Error("project has no network");
    const container = await ctx.docker.run({
      name: `fake-railway-${ctx.docker.instance}-${d.id.slice(0, 8)}`,
      projectId: project.id,
      network: project.network,
      aliases: [privateDomain(service)],
      cmd: plan.cmd,
      env: plan.env,
      binds: plan.binds,
      memoryMb: plan.memoryMb ?? ctx.memoryMb,
      labels: { "previewd.fake.service": service.id, "previewd.fake.deployment": d.id },
    });
    d.containerId = container.id;
    const started = Date.now();
    const exited = ctx.docker.follow(container, (line, stream) => {
      if (plan.buildDoneMarker && line === plan.buildDoneMarker) {
        if (d.status === "BUILDING") setStatus(d, "DEPLOYING");
        return;
      }
      log(d.status === "BUILDING" ? d.buildLogs : d.deployLogs, line, stream === "stderr" ? "error" : "info");
    });
    let gone = false;
    void exited.then((code) => {
      gone = true;
      if (d.status === "BUILDING") failBuild(d, `Build failed: the build exited with code ${code}`);
      else if (d.status === "DEPLOYING" || d.status === "SUCCESS") {
        log(d.deployLogs, `Container exited with code ${code}`, "error");
        setStatus(d, "CRASHED");
      }
    });
    await watch(ctx, service, d, plan, started, () => gone);
  } catch (err) {
    ctx.onError(err);
    if (d.status === "QUEUED" || d.status === "BUILDING" || d.status === "DEPLOYING") {
      failBuild(d, `Deployment failed: ${(err as Error).message}`);
      await ctx.docker.remove(d.containerId);
    }
  }
}

/** Moves BUILDING → DEPLOYING → SUCCESS by polling; enforces the build and readiness deadlines. */
async function watch(ctx: DeployContext, service: Service, d: Deployment, plan: RunPlan, started: number, gone: () => boolean): Promise<void> {
  let deployingSince = 0;
  while (!gone()) {
    if (d.status === "BUILDING" && Date.now() - started > ctx.buildTimeoutMs) {
      failBuild(d, `Build timed out after ${Math.round(ctx.buildTimeoutMs / 1000)} s`);
      await ctx.docker.remove(d.containerId);
      return;
    }
    if (d.status === "DEPLOYING") {
      deployingSince ||= Date.now();
      const ip = d.containerId ? await ctx.docker.ip(d.containerId) : undefined;
      if (ip && (await plan.ready(ip).catch(() => false)) && d.status === "DEPLOYING") {
        setStatus(d, "SUCCESS");
        d.everLive = true;
        log(d.deployLogs, "Deployment is live");
        // The newer deployment serves now; Railway removes the ones it replaced.
        for (const old of service.deployments) if (old !== d && old.createdAt <= d.createdAt && old.status !== "REMOVED") await retire(ctx, old);
        return;
      }
      if (Date.now() - deployingSince > ctx.readyTimeoutMs) {
        log(d.deployLogs, `Healthcheck failed: the service did not answer within ${Math.round(ctx.readyTimeoutMs / 1000)} s`, "error");
        setStatus(d, "FAILED");
        await ctx.docker.remove(d.containerId);
        return;
      }
    }
    if (d.status !== "BUILDING" && d.status !== "DEPLOYING") return; // retired or finished meanwhile
    await Bun.sleep(200);
  }
}
