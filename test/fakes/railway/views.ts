// The state seen through Railway's GraphQL types: plain objects whose
// properties (or argument-taking methods, which graphql-js's default
// resolver calls) have the schema's field names. Keeping the mapping here
// lets resolvers.ts read as a list of operations.
import { activeDeployment, type Deployment, type Environment, type Project, type Service, type ServiceDomain, type TcpProxy } from "./state.ts";

const EMPTY_PAGE = { hasNextPage: false, hasPreviousPage: false, startCursor: null, endCursor: null };

/** A Relay-style connection of the first `first` items (Railway's lists are connections). */
export function connection<T extends { id: string }>(items: T[], first?: number | null) {
  const page = typeof first === "number" && first >= 0 ? items.slice(0, first) : items;
  return {
    edges: page.map((node) => ({ cursor: node.id, node })),
    pageInfo: { ...EMPTY_PAGE, hasNextPage: page.length < items.length, startCursor: page[0]?.id ?? null, endCursor: page.at(-1)?.id ?? null },
  };
}

export function environmentView(e: Environment) {
  return { id: e.id, name: e.name, projectId: e.projectId, canAccess: true, isEphemeral: false, unmergedChangesCount: 0, createdAt: e.createdAt, updatedAt: e.createdAt, deletedAt: null };
}

export function serviceView(s: Service) {
  return { id: s.id, name: s.name, projectId: s.projectId, icon: null, createdAt: s.createdAt, updatedAt: s.createdAt, deletedAt: null };
}

export function projectView(p: Project) {
  return {
    id: p.id,
    name: p.name,
    description: p.description,
    workspaceId: p.workspaceId,
    isPublic: p.isPublic,
    createdAt: p.createdAt,
    updatedAt: p.updatedAt,
    deletedAt: null,
    baseEnvironmentId: p.environments[0]?.id ?? null,
    primaryEnvironmentId: p.environments[0]?.id ?? null,
    environments: (a: { first?: number | null }) => connection(p.environments.map(environmentView), a.first),
    services: (a: { first?: number | null }) => connection(p.services.map(serviceView), a.first),
  };
}

export function tcpProxyView(p: TcpProxy) {
  return {
    id: p.id,
    serviceId: p.serviceId,
    environmentId: p.environmentId,
    applicationPort: p.applicationPort,
    proxyPort: p.proxyPort,
    domain: "127.0.0.1", // the fake's relay listens on loopback, so host-side tools can connect
    syncStatus: Date.now() >= p.activeAt ? "ACTIVE" : "CREATING",
    createdAt: p.createdAt,
    updatedAt: p.createdAt,
    deletedAt: null,
  };
}

export function domainView(d: ServiceDomain, projectId: string) {
  return {
    id: d.id,
    domain: d.domain,
    suffix: "up.railway.app",
    serviceId: d.serviceId,
    environmentId: d.environmentId,
    projectId,
    targetPort: d.targetPort,
    syncStatus: "ACTIVE",
    createdAt: d.createdAt,
    updatedAt: d.createdAt,
    deletedAt: null,
  };
}

/**
 * url and staticUrl: the service's public domain, without a scheme, or null
 * when it has none (what Railway puts there exactly is UNCONFIRMED).
 */
export function deploymentView(d: Deployment, service: Service) {
  const domain = service.domains.find((x) => x.environmentId === d.environmentId)?.domain ?? null;
  return {
    id: d.id,
    status: d.status,
    createdAt: d.createdAt,
    updatedAt: d.updatedAt,
    statusUpdatedAt: d.statusUpdatedAt,
    projectId: d.projectId,
    environmentId: d.environmentId,
    serviceId: d.serviceId,
    url: domain,
    staticUrl: domain,
    meta: d.source.kind === "image" ? { image: d.source.image } : d.source.kind === "repo" ? { repo: d.source.repo } : d.rollbackOf ? { reason: "rollback", rollbackOf: d.rollbackOf } : { reason: "deploy" },
    canRedeploy: true,
    canRollback: canRollback(d, service),
  };
}

/** A deployment that served once and serves no longer (what Railway's dashboard offers to roll back to). */
export function canRollback(d: Deployment, service: Service): boolean {
  return d.source.kind === "upload" && !!d.everLive && activeDeployment(service) !== d;
}
