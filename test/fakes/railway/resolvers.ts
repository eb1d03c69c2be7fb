// The root fields of schema.graphql, one function each. graphql-js has
// already checked the arguments' shapes against the schema; what is checked
// here is what only the server knows (ids that exist, environments that
// belong to the project). Thrown errors become errors[] at HTTP 200.
import type { Resources } from "./resources.ts";
import type { DeploymentStatus, Environment, Project } from "./state.ts";
import { newId } from "./state.ts";
import { asVariableMap, renderServiceVariables, renderSharedVariables } from "./variables.ts";
import { canRollback, connection, deploymentView, domainView, projectView, serviceView, tcpProxyView } from "./views.ts";

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the schema has shaped them already
type Args = Record<string, any>;

export function rootValue(r: Resources): Record<string, (args: Args) => unknown> {
  const state = r.ctx.state;

  /** The environment, checked to be the project's (Railway: "Environment not found"). */
  const envOf = (projectId: string, environmentId: string | null | undefined): { project: Project; env: Environment } => {
    const project = state.project(projectId);
    const env = environmentId ? project.environments.find((e) => e.id === environmentId) : project.environments[0];
    if (!env) throw new Error("Environment not found");
    return { project, env };
  };

  const logs = (kind: "buildLogs" | "deployLogs") => (a: Args) => {
    const { deployment } = state.deployment(a.deploymentId);
    let lines = deployment[kind];
    if (typeof a.filter === "string" && a.filter) lines = lines.filter((l) => l.message.includes(a.filter));
    if (typeof a.limit === "number") lines = lines.slice(-Math.max(0, a.limit));
    return lines.map((l) => ({ ...l, attributes: [] }));
  };

  return {
    // ---- projects and environments
    projectCreate: async ({ input }) => projectView(await r.createProject(input)),
    project: ({ id }) => projectView(state.project(id)),
    projects: ({ first, workspaceId }) => {
      const all = [...state.projects.values()].filter((p) => !workspaceId || p.workspaceId === workspaceId);
      return connection(all.map(projectView), first);
    },
    projectDelete: async ({ id }) => {
      await r.deleteProject(state.project(id));
      return true;
    },

    // ---- services, volumes, networking
    serviceCreate: ({ input }) => {
      const { project, env } = envOf(input.projectId, input.environmentId);
      return serviceView(r.createService(project, env, { name: input.name, source: input.source, variables: asVariableMap(input.variables) }));
    },
    volumeCreate: ({ input }) => {
      const project = state.project(input.projectId);
      const service = input.serviceId ? state.service(input.serviceId).service : undefined;
      if (service && service.projectId !== project.id) throw new Error("Service not found");
      if (service?.volumes.length) throw new Error("Service already has a volume");
      const volume = {
        id: newId(),
        name: `${(service?.name ?? "volume").toLowerCase()}-volume`,
        projectId: project.id,
        serviceId: service?.id ?? null,
        environmentId: input.environmentId ?? null,
        mountPath: input.mountPath,
        createdAt: new Date(),
      };
      service?.volumes.push(volume);
      return { id: volume.id, name: volume.name, projectId: project.id, createdAt: volume.createdAt };
    },
    environmentPatchCommit: async ({ environmentId, patch }) => {
      const { project, environment } = state.environment(environmentId);
      const services = (patch as { services?: Record<string, unknown> } | null)?.services ?? {};
      for (const [serviceId, raw] of Object.entries(services)) {
        const service = project.services.find((s) => s.id === serviceId);
        if (!service) throw new Error(`Service ${serviceId} not found in environment`);
        const cfg = (raw ?? {}) as { networking?: { tcpProxies?: Record<string, unknown> }; variables?: Record<string, { value?: string } | null> };
        for (const port of Object.keys(cfg.networking?.tcpProxies ?? {})) {
          if (!/^\d+$/.test(port)) throw new Error(`Invalid TCP proxy port: ${port}`);
          await r.createTcpProxy(environment, service, Number(port));
        }
        // Variables in the config format ({"KEY": {"value": "..."}}; null deletes), committed with a redeploy.
        if (cfg.variables) {
          for (const [k, v] of Object.entries(cfg.variables)) {
            if (v === null) delete service.variables[k];
            else if (typeof v?.value === "string") service.variables[k] = v.value;
          }
          r.redeploy(project, environment, service);
        }
      }
      return newId(); // the commit's id (a workflow Railway runs; here everything is applied already)
    },
    tcpProxyCreate: async ({ input }) => {
      const { service } = state.service(input.serviceId);
      const { environment } = state.environment(input.environmentId);
      return tcpProxyView(await r.createTcpProxy(environment, service, input.applicationPort));
    },
    tcpProxies: ({ environmentId, serviceId }) => {
      state.environment(environmentId);
      return state.service(serviceId).service.tcpProxies.filter((p) => p.environmentId === environmentId).map(tcpProxyView);
    },
    serviceDomainCreate: ({ input }) => {
      const { project, service } = state.service(input.serviceId);
      const { env } = envOf(project.id, input.environmentId);
      return domainView(r.createDomain(env, service, input.targetPort ?? null), project.id);
    },

    // ---- variables
    variables: ({ projectId, environmentId, serviceId, unrendered }) => {
      const { project, env } = envOf(projectId, environmentId);
      if (!serviceId) return unrendered ? { ...env.shared } : renderSharedVariables(project, env);
      const service = project.services.find((s) => s.id === serviceId);
      if (!service) throw new Error("Service not found");
      return unrendered ? { ...service.variables } : renderServiceVariables(project, env, service);
    },
    variableCollectionUpsert: ({ input }) => upsert(input, asVariableMap(input.variables)),
    variableUpsert: ({ input }) => upsert(input, asVariableMap({ [input.name]: input.value })),

    // ---- deployments and logs
    deployments: ({ input, first }) => {
      const want = input.status as { in?: DeploymentStatus[]; notIn?: DeploymentStatus[] } | null;
      const rows = [...state.projects.values()]
        .filter((p) => !input.projectId || p.id === input.projectId)
        .flatMap((p) => p.services.filter((s) => !input.serviceId || s.id === input.serviceId).flatMap((s) => s.deployments.map((d) => ({ d, s }))))
        .filter(({ d }) => !input.environmentId || d.environmentId === input.environmentId)
        .filter(({ d }) => (!want?.in || want.in.includes(d.status)) && !want?.notIn?.includes(d.status))
        // REMOVED deployments stay listed, as Railway's deployment history shows them.
        .sort((a, b) => b.d.createdAt.getTime() - a.d.createdAt.getTime());
      return connection(rows.map(({ d, s }) => deploymentView(d, s)), first);
    },
    deployment: ({ id }) => {
      const { service, deployment } = state.deployment(id);
      return deploymentView(deployment, service);
    },
    // Railway: "Rolls back to a deployment" — a new deployment of the service with that deployment's code
    // (Railway reuses its image; the fake builds the kept upload again). Only for canRollback deployments.
    deploymentRollback: ({ id }) => {
      const { project, service, deployment } = state.deployment(id);
      if (!canRollback(deployment, service) || deployment.source.kind !== "upload") throw new Error("Deployment cannot be rolled back");
      const env = project.environments.find((e) => e.id === deployment.environmentId)!;
      r.rollback(project, env, service, deployment);
      return true;
    },
    buildLogs: logs("buildLogs"),
    deploymentLogs: logs("deployLogs"),
  };

  function upsert(input: Args, vars: Record<string, string>): boolean {
    const { project, env } = envOf(input.projectId, input.environmentId);
    if (!input.serviceId) {
      env.shared = input.replace ? vars : { ...env.shared, ...vars };
      return true; // shared variables: the fake does not redeploy the services that reference them
    }
    const service = project.services.find((s) => s.id === input.serviceId);
    if (!service) throw new Error("Service not found");
    service.variables = input.replace ? vars : { ...service.variables, ...vars };
    if (!input.skipDeploys) r.redeploy(project, env, service);
    return true;
  }
}
