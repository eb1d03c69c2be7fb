// The control API's objects, as the public contract (spec/api.md) describes
// them. Written out here rather than imported from the daemon so the SDK can
// be published and used without the daemon's code.

export type PreviewStatus = "installing" | "starting" | "running" | "suspended" | "stopped" | "failed" | "deleted";
export type Tier = "browser" | "container" | "fly";

/** A file's content: UTF-8 text, or binary as base64. */
export type FileContent = string | { base64: string };
export type Files = Record<string, FileContent>;

export interface Preview {
  id: string;
  url: string;
  status: PreviewStatus;
  /** What it is doing now ("installing dependencies (npm ci, 143 packages)"). */
  phase?: string;
  tier: Tier;
  node: string;
  tierReason?: string;
  createdAt: string;
  lastActiveAt: string;
  database?: { schema: string; url: string };
  /** Why it failed, when status is "failed". */
  error?: string;
}

export interface DatabaseOptions {
  migrations?: string[];
  seed?: string;
}

/** Body of POST /v1/previews. */
export interface CreatePreviewBody {
  files: Files;
  command?: string[];
  port?: number;
  env?: Record<string, string>;
  database?: boolean | DatabaseOptions;
  tier?: "auto" | Tier;
}

export type DeploymentStatus =
  | "queued" | "exporting" | "provisioning" | "restoring" | "verifying_data"
  | "uploading" | "building" | "deploying" | "live" | "failed" | "removed";

export interface DeploymentStep {
  name: string;
  startedAt?: string;
  endedAt?: string;
  detail?: string;
}

export interface Deployment {
  id: string;
  previewId: string;
  provider: "railway";
  status: DeploymentStatus;
  steps: DeploymentStep[];
  url?: string;
  data?: { tables: number; rows: number; verified: boolean };
  providerIds?: Record<string, string>;
  error?: { step: string; message: string };
}

export interface DeployOptions {
  projectName?: string;
  /** Drop the preview's schema once the deployment is live. */
  cleanup?: boolean;
}

export type TokenScope = "read" | "files" | "deploy";

export interface ScopedToken {
  token: string;
  expiresAt: string;
}

/** One event of GET /v1/previews/{id}/events. */
export type PreviewEvent =
  | { type: "preview"; preview: Preview }
  | { type: "deployment"; deployment: Deployment };
