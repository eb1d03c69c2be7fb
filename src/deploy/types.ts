// The deployment object of spec/api.md, and what the daemon keeps beside it.

export type DeploymentStatus =
  | "queued" | "exporting" | "provisioning" | "restoring" | "verifying_data"
  | "uploading" | "building" | "deploying" | "live" | "failed" | "removed";

/** Statuses a deployment never leaves by itself. */
export const FINAL: ReadonlySet<DeploymentStatus> = new Set(["live", "failed", "removed"]);

export interface DeploymentStep {
  name: DeploymentStatus;
  startedAt: string;
  endedAt?: string;
  detail?: string;
}

/** Ids the provider handed out, recorded as soon as each exists (resume and teardown read them). */
export interface ProviderIds {
  projectId?: string;
  environmentId?: string;
  serviceId?: string;
  databaseServiceId?: string;
  volumeId?: string;
  domain?: string;
  deploymentId?: string;
}

export interface DataCheck {
  tables: number;
  rows: number;
  verified: boolean;
  /** Sequences compared (their last values equal the preview's). */
  sequences?: number;
}

export interface DeployRequest {
  provider: "railway";
  projectName?: string;
  cleanup: boolean;
}

export interface Deployment {
  id: string;
  previewId: string;
  provider: "railway";
  status: DeploymentStatus;
  steps: DeploymentStep[];
  url?: string;
  data?: DataCheck;
  providerIds: ProviderIds;
  error?: { step: string; message: string };
  createdAt: string;
  updatedAt: string;
}

/** The stored row: the public object plus who runs it and what was asked. */
export interface DeploymentRecord extends Deployment {
  node: string;
  request: DeployRequest;
  /** DELETE asked for while it ran: the runner stops at the next step and tears down. */
  cancel: boolean;
}
