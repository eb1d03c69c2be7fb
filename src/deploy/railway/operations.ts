// The Railway operations a deploy uses, named and typed. Field and argument
// names follow Railway's published schema (railwayapp/cli src/gql/schema.json);
// the queries are the CLI's own shapes where it has one.
import type { RailwayClient } from "./client.ts";

export interface Named {
  id: string;
  name: string;
}
export interface TcpProxy {
  id: string;
  domain: string;
  proxyPort: number;
  applicationPort: number;
  syncStatus: string;
}
export interface RailwayDeployment {
  id: string;
  status: string;
  createdAt: string;
  url?: string | null;
  staticUrl?: string | null;
}
type Edges<T> = { edges: { node: T }[] };
const nodes = <T>(c: Edges<T>): T[] => c.edges.map((e) => e.node);

export class RailwayApi {
  constructor(readonly client: RailwayClient) {}

  async createProject(input: { name: string; description: string; workspaceId?: string }, signal?: AbortSignal): Promise<{ id: string; environmentId: string }> {
    const d = await this.client.gql<{ projectCreate: { id: string; environments: Edges<Named> } }>(
      `mutation ProjectCreate($input: ProjectCreateInput!) { projectCreate(input: $input) { id name environments { edges { node { id name } } } } }`,
      { input: { ...input, defaultEnvironmentName: "production" } }, signal);
    const env = nodes(d.projectCreate.environments)[0];
    if (!env) throw new Error(`Railway created project ${d.projectCreate.id} without an environment.`);
    return { id: d.projectCreate.id, environmentId: env.id };
  }

  /** Projects the token sees, with their description (which names the deployment that made them). */
  async projects(workspaceId?: string, signal?: AbortSignal): Promise<(Named & { description?: string | null; environments: Named[] })[]> {
    const d = await this.client.gql<{ projects: Edges<Named & { description?: string | null; environments: Edges<Named> }> }>(
      `query Projects($workspaceId: String) { projects(first: 500, workspaceId: $workspaceId) { edges { node { id name description environments { edges { node { id name } } } } } } }`,
      { workspaceId }, signal);
    return nodes(d.projects).map((p) => ({ ...p, environments: nodes(p.environments) }));
  }

  async services(projectId: string, signal?: AbortSignal): Promise<Named[]> {
    const d = await this.client.gql<{ project: { services: Edges<Named> } }>(
      `query ProjectServices($id: String!) { project(id: $id) { id services { edges { node { id name } } } } }`, { id: projectId }, signal);
    return nodes(d.project.services);
  }

  async deleteProject(id: string, signal?: AbortSignal): Promise<void> {
    await this.client.gql(`mutation ProjectDelete($id: String!) { projectDelete(id: $id) }`, { id }, signal);
  }

  async createService(input: { projectId: string; environmentId: string; name: string; source?: { image: string }; variables?: Record<string, string> }, signal?: AbortSignal): Promise<Named> {
    const d = await this.client.gql<{ serviceCreate: Named }>(
      `mutation ServiceCreate($input: ServiceCreateInput!) { serviceCreate(input: $input) { id name } }`, { input }, signal);
    return d.serviceCreate;
  }

  async createVolume(input: { projectId: string; environmentId: string; serviceId: string; mountPath: string }, signal?: AbortSignal): Promise<Named> {
    const d = await this.client.gql<{ volumeCreate: Named }>(
      `mutation VolumeCreate($input: VolumeCreateInput!) { volumeCreate(input: $input) { id name } }`, { input }, signal);
    return d.volumeCreate;
  }

  /** Public TCP access to a port, as `railway` itself does it now: a committed environment patch. */
  async enableTcpProxy(environmentId: string, serviceId: string, port: number, signal?: AbortSignal): Promise<void> {
    const patch = { services: { [serviceId]: { networking: { tcpProxies: { [String(port)]: {} } } } } };
    await this.client.gql(
      `mutation EnvironmentPatchCommit($environmentId: String!, $patch: EnvironmentConfig, $commitMessage: String) { environmentPatchCommit(environmentId: $environmentId, patch: $patch, commitMessage: $commitMessage) }`,
      { environmentId, patch, commitMessage: "previewd: public TCP access for the data restore" }, signal);
  }

  async tcpProxies(environmentId: string, serviceId: string, signal?: AbortSignal): Promise<TcpProxy[]> {
    const d = await this.client.gql<{ tcpProxies: TcpProxy[] }>(
      `query TcpProxies($environmentId: String!, $serviceId: String!) { tcpProxies(environmentId: $environmentId, serviceId: $serviceId) { id domain proxyPort applicationPort syncStatus } }`,
      { environmentId, serviceId }, signal);
    return d.tcpProxies;
  }

  /** A service's variables as its deployments see them (references rendered). */
  async variables(ids: { projectId: string; environmentId: string; serviceId: string }, signal?: AbortSignal): Promise<Record<string, string>> {
    const d = await this.client.gql<{ variables: Record<string, string> }>(
      `query Variables($projectId: String!, $environmentId: String!, $serviceId: String) { variables(projectId: $projectId, environmentId: $environmentId, serviceId: $serviceId) }`,
      ids, signal);
    return d.variables;
  }

  /** Variables as set, references unexpanded (`${{Postgres.DATABASE_URL}}`). */
  async unrenderedVariables(ids: { projectId: string; environmentId: string; serviceId: string }, signal?: AbortSignal): Promise<Record<string, string>> {
    const d = await this.client.gql<{ variables: Record<string, string> }>(
      `query Variables($projectId: String!, $environmentId: String!, $serviceId: String) { variables(projectId: $projectId, environmentId: $environmentId, serviceId: $serviceId, unrendered: true) }`,
      ids, signal);
    return d.variables;
  }

  /** Adds or changes these variables, keeping the others; `skipDeploys`: no redeploy for it (an upload follows). */
  async upsertVariables(input: { projectId: string; environmentId: string; serviceId: string; variables: Record<string, string>; skipDeploys: boolean }, signal?: AbortSignal): Promise<void> {
    await this.client.gql(
      `mutation VariableCollectionUpsert($input: VariableCollectionUpsertInput!) { variableCollectionUpsert(input: $input) }`,
      { input: { ...input, replace: false } }, signal);
  }

  /** Railway's rollback: a new deployment of the service running the code of deployment `id` (schema: Boolean!). */
  async rollbackTo(id: string, signal?: AbortSignal): Promise<void> {
    await this.client.gql(`mutation DeploymentRollback($id: String!) { deploymentRollback(id: $id) }`, { id }, signal);
  }

  async createDomain(input: { environmentId: string; serviceId: string }, signal?: AbortSignal): Promise<{ id: string; domain: string }> {
    const d = await this.client.gql<{ serviceDomainCreate: { id: string; domain: string } }>(
      `mutation ServiceDomainCreate($input: ServiceDomainCreateInput!) { serviceDomainCreate(input: $input) { id domain } }`, { input }, signal);
    return d.serviceDomainCreate;
  }

  async deployments(input: { projectId: string; environmentId: string; serviceId: string }, signal?: AbortSignal): Promise<RailwayDeployment[]> {
    const d = await this.client.gql<{ deployments: Edges<RailwayDeployment> }>(
      `query Deployments($input: DeploymentListInput!) { deployments(input: $input, first: 20) { edges { node { id status createdAt url staticUrl } } } }`,
      { input }, signal);
    return nodes(d.deployments);
  }

  async deployment(id: string, signal?: AbortSignal): Promise<RailwayDeployment> {
    const d = await this.client.gql<{ deployment: RailwayDeployment }>(
      `query Deployment($id: String!) { deployment(id: $id) { id status createdAt url staticUrl } }`, { id }, signal);
    return d.deployment;
  }

  /** The last lines of a deployment's build (or, `deploy`, runtime) log. */
  async logs(deploymentId: string, which: "build" | "deploy", limit = 30, signal?: AbortSignal): Promise<string[]> {
    const field = which === "build" ? "buildLogs" : "deploymentLogs";
    const d = await this.client.gql<Record<string, { message: string }[]>>(
      `query Logs($deploymentId: String!, $limit: Int) { ${field}(deploymentId: $deploymentId, limit: $limit) { message severity timestamp } }`,
      { deploymentId, limit }, signal);
    return (d[field] ?? []).map((l) => l.message);
  }
}
