// What the mutations do to the world beyond the in-memory state: a project
// gets a Docker network, a Postgres service a running server, a TCP proxy a
// listening relay, a project deletion removes all of them. The GraphQL layer
// (resolvers.ts) only maps arguments onto these.
import { rmSync } from "node:fs";
import { deployUnfetchable, deployUpload, redeploySource } from "./builder.ts";
import { retire, type DeployContext } from "./deploy.ts";
import { deployPostgres } from "./postgres.ts";
import type { Deployment, Environment, Project, Service, ServiceDomain, TcpProxy } from "./state.ts";
import { activeDeployment, isPostgres, newId } from "./state.ts";
import { startRelay } from "./tcpproxy.ts";

export interface ResourceOptions {
  /** How long a new TCP proxy reports CREATING before ACTIVE. */
  tcpProxyDelayMs: number;
}

export class Resources {
  constructor(
    readonly ctx: DeployContext,
    private readonly o: ResourceOptions,
  ) {}

  async createProject(input: { name?: string | null; description?: string | null; workspaceId?: string | null; isPublic?: boolean | null; defaultEnvironmentName?: string | null }): Promise<Project> {
    const now = new Date();
    const project: Project = {
      id: newId(),
      // Railway names unnamed projects with two random words; the fake is plainer.
      name: input.name || `project-${Math.random().toString(36).slice(2, 8)}`,
      description: input.description ?? null,
      workspaceId: input.workspaceId ?? null,
      isPublic: !!input.isPublic,
      environments: [],
      services: [],
      createdAt: now,
      updatedAt: now,
    };
    project.environments.push({ id: newId(), name: input.defaultEnvironmentName || "production", projectId: project.id, shared: {}, createdAt: now });
    project.network = await this.ctx.docker.createNetwork(project.id);
    this.ctx.state.projects.set(project.id, project);
    return project;
  }

  /** Stops and removes everything the project made: containers, proxies, network, volumes. */
  async deleteProject(project: Project): Promise<void> {
    this.ctx.state.projects.delete(project.id); // gone for the API at once; the clean-up follows
    for (const service of project.services) {
      for (const d of service.deployments) await retire(this.ctx, d);
      for (const p of service.tcpProxies) await p.close();
      service.tcpProxies = [];
      if (service.dataDir) rmSync(service.dataDir, { recursive: true, force: true });
    }
    await this.ctx.docker.removeByLabel(`previewd.fake.project=${project.id}`);
  }

  createService(project: Project, env: Environment, input: { name?: string | null; source?: { image?: string | null; repo?: string | null } | null; variables: Record<string, string> }): Service {
    const image = input.source?.image ?? undefined;
    const service: Service = {
      id: newId(),
      projectId: project.id,
      // Railway names a service after its image or repo when no name is given.
      name: input.name || (image ? (image.split("/").pop() ?? image).split(":")[0]! : input.source?.repo?.split("/").pop()) || "service",
      source: input.source ?? null,
      variables: { ...input.variables },
      volumes: [],
      tcpProxies: [],
      domains: [],
      deployments: [],
      createdAt: new Date(),
    };
    project.services.push(service);
    // A service with a source deploys at once (what `railway add --image` relies on).
    if (isPostgres(service)) deployPostgres(this.ctx, project, env, service);
    else if (service.source?.image || service.source?.repo) deployUnfetchable(project, env, service);
    return service;
  }

  /** After a variable change: a new deployment with the new values (Railway's default, skipped with skipDeploys). */
  redeploy(project: Project, env: Environment, service: Service): void {
    if (isPostgres(service)) deployPostgres(this.ctx, project, env, service);
    else redeploySource(this.ctx, project, env, service);
  }

  /** deploymentRollback: the code of `to` deployed again, as a new deployment. */
  rollback(project: Project, env: Environment, service: Service, to: Deployment): Deployment {
    if (to.source.kind !== "upload") throw new Error("Deployment cannot be rolled back");
    const d = deployUpload(this.ctx, project, env, service, to.source.tarball);
    d.rollbackOf = to.id;
    return d;
  }

  /** One TCP proxy per service instance and port (Railway allows one per instance); an existing one is returned. */
  async createTcpProxy(env: Environment, service: Service, applicationPort: number): Promise<TcpProxy> {
    const existing = service.tcpProxies.find((p) => p.environmentId === env.id && p.applicationPort === applicationPort);
    if (existing) return existing;
    const relay = await startRelay(async () => {
      const d = activeDeployment(service);
      return d?.containerId ? this.ctx.docker.ip(d.containerId) : undefined;
    }, applicationPort);
    const proxy: TcpProxy = {
      id: newId(),
      serviceId: service.id,
      environmentId: env.id,
      applicationPort,
      proxyPort: relay.port,
      createdAt: new Date(),
      activeAt: Date.now() + this.o.tcpProxyDelayMs,
      close: relay.close,
    };
    service.tcpProxies.push(proxy);
    return proxy;
  }

  /** A generated *.up.railway.app domain; the edge answers it with the service's live deployment. */
  createDomain(env: Environment, service: Service, targetPort: number | null): ServiceDomain {
    const slug = service.name.toLowerCase().replace(/[^a-z0-9-]+/g, "-").replace(/^-+|-+$/g, "") || "service";
    const rand = Array.from({ length: 4 }, () => "abcdefghijklmnopqrstuvwxyz0123456789"[Math.floor(Math.random() * 36)]).join("");
    const domain: ServiceDomain = {
      id: newId(),
      domain: `${slug}-${env.name.toLowerCase()}-${rand}.up.railway.app`,
      serviceId: service.id,
      environmentId: env.id,
      targetPort,
      createdAt: new Date(),
    };
    service.domains.push(domain);
    return domain;
  }

  /** Stops every project (the fake's stop()). */
  async deleteAll(): Promise<void> {
    for (const project of [...this.ctx.state.projects.values()]) await this.deleteProject(project).catch(this.ctx.onError);
  }
}
