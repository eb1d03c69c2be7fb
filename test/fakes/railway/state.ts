// The fake's in-memory model of Railway: projects own environments and
// services; a service owns variables, volumes, TCP proxies, domains and
// deployments. Everything else (GraphQL, Docker, the edge) reads and writes
// this one structure, so a test's snapshot (FakeRailway.projects()) and the
// API always agree. Nothing is persisted: a fake lives as long as its test.
import { randomUUID } from "node:crypto";

/** Railway's DeploymentStatus enum, exactly as its schema lists it. */
export type DeploymentStatus =
  | "BUILDING" | "CRASHED" | "DEPLOYING" | "FAILED" | "INITIALIZING" | "NEEDS_APPROVAL" | "QUEUED"
  | "REMOVED" | "REMOVING" | "SKIPPED" | "SLEEPING" | "SUCCESS" | "WAITING";

export interface LogLine {
  message: string;
  severity: "info" | "error";
  timestamp: string;
}

export interface Deployment {
  id: string;
  projectId: string;
  environmentId: string;
  serviceId: string;
  status: DeploymentStatus;
  createdAt: Date;
  updatedAt: Date;
  statusUpdatedAt: Date;
  buildLogs: LogLine[];
  deployLogs: LogLine[];
  /** What it runs: an uploaded tarball (path on the host) or an image. */
  source: { kind: "upload"; tarball: string } | { kind: "image"; image: string } | { kind: "repo"; repo: string };
  containerId?: string;
  /** The port the app listens on inside its container (PORT). */
  port?: number;
  /** It reached SUCCESS once: Railway lets a deployment that served be rolled back to (canRollback). */
  everLive?: boolean;
  /** Made by deploymentRollback: the deployment whose code it runs again. */
  rollbackOf?: string;
}

export interface TcpProxy {
  id: string;
  serviceId: string;
  environmentId: string;
  applicationPort: number;
  /** Loopback port the fake listens on; forwards to the service's container. */
  proxyPort: number;
  createdAt: Date;
  /** CREATING until this instant, then ACTIVE (Railway's proxies take a moment to sync). */
  activeAt: number;
  close: () => Promise<void>;
}

export interface ServiceDomain {
  id: string;
  domain: string;
  serviceId: string;
  environmentId: string;
  targetPort: number | null;
  createdAt: Date;
}

export interface Volume {
  id: string;
  name: string;
  projectId: string;
  serviceId: string | null;
  environmentId: string | null;
  mountPath: string;
  createdAt: Date;
}

export interface Service {
  id: string;
  projectId: string;
  name: string;
  source: { image?: string | null; repo?: string | null } | null;
  /** Service variables, unrendered (may hold ${{...}} references). */
  variables: Record<string, string>;
  volumes: Volume[];
  tcpProxies: TcpProxy[];
  domains: ServiceDomain[];
  deployments: Deployment[];
  createdAt: Date;
  /** Host directory that backs a Postgres service's data (its volume). */
  dataDir?: string;
}

export interface Environment {
  id: string;
  name: string;
  projectId: string;
  /** Shared variables (${{shared.X}}). */
  shared: Record<string, string>;
  createdAt: Date;
}

export interface Project {
  id: string;
  name: string;
  description: string | null;
  workspaceId: string | null;
  isPublic: boolean;
  environments: Environment[];
  services: Service[];
  createdAt: Date;
  updatedAt: Date;
  /** The Docker network all of the project's containers join (private networking). */
  network?: string;
}

/** Railway's ids are UUIDs. */
export const newId = (): string => randomUUID();

/** A GraphQL error message the resolvers throw (graphql-js turns it into errors[]). */
export class NotFound extends Error {
  constructor(what: string) {
    super(`${what} not found`);
  }
}

export class State {
  readonly projects = new Map<string, Project>();

  project(id: string): Project {
    const p = this.projects.get(id);
    if (!p) throw new NotFound("Project");
    return p;
  }

  environment(id: string): { project: Project; environment: Environment } {
    for (const project of this.projects.values()) {
      const environment = project.environments.find((e) => e.id === id);
      if (environment) return { project, environment };
    }
    throw new NotFound("Environment");
  }

  service(id: string): { project: Project; service: Service } {
    for (const project of this.projects.values()) {
      const service = project.services.find((s) => s.id === id);
      if (service) return { project, service };
    }
    throw new NotFound("Service");
  }

  deployment(id: string): { project: Project; service: Service; deployment: Deployment } {
    for (const project of this.projects.values())
      for (const service of project.services) {
        const deployment = service.deployments.find((d) => d.id === id);
        if (deployment) return { project, service, deployment };
      }
    throw new NotFound("Deployment");
  }

  /** The service that answers a public domain (the edge's routing table). */
  serviceByDomain(host: string): { project: Project; service: Service } | undefined {
    for (const project of this.projects.values())
      for (const service of project.services) if (service.domains.some((d) => d.domain === host)) return { project, service };
    return undefined;
  }
}

/** The deployment that currently serves a service: the newest SUCCESS one. */
export function activeDeployment(service: Service): Deployment | undefined {
  return [...service.deployments].reverse().find((d) => d.status === "SUCCESS");
}

export function setStatus(d: Deployment, status: DeploymentStatus): void {
  d.status = status;
  d.statusUpdatedAt = d.updatedAt = new Date();
}

/** Appends a log line; RFC 3339 timestamps with nanoseconds, as Railway's Log.timestamp. */
export function log(lines: LogLine[], message: string, severity: LogLine["severity"] = "info"): void {
  const iso = new Date().toISOString(); // 2026-01-01T00:00:00.000Z
  lines.push({ message, severity, timestamp: iso.replace(/\.(\d{3})Z$/, ".$1000000Z") });
  if (lines.length > 5000) lines.splice(0, lines.length - 5000); // a chatty app must not grow the fake without bound
}

/** The image Railway's Postgres template deploys; a service from it is a real PostgreSQL here. */
export const POSTGRES_IMAGE_PREFIX = "ghcr.io/railwayapp-templates/postgres-ssl";

export const isPostgres = (s: Service): boolean => !!s.source?.image?.startsWith(POSTGRES_IMAGE_PREFIX);

/** Railway's private hostname for a service: its name, lowercased, as a DNS label. */
export function privateDomain(s: Service): string {
  const label = s.name.toLowerCase().replace(/[^a-z0-9-]+/g, "-").replace(/^-+|-+$/g, "") || "service";
  return `${label}.railway.internal`;
}
