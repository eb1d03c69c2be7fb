// The control API's objects, as the public contract (spec/api.md) describes
// them. Written out here rather than imported from the daemon so the SDK can
// be published and used without the daemon's code.

export type PreviewStatus = "installing" | "starting" | "running" | "suspended" | "stopped" | "failed" | "deleted";
export type Tier = "browser" | "container" | "fly";
/** private: only requests with a share link's cookie reach the app. */
export type Visibility = "public" | "private";

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
  visibility: Visibility;
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
  /** Unset: the daemon's PREVIEWD_VISIBILITY (public by default). */
  visibility?: Visibility;
}

/** A share link (POST /v1/previews/{id}/shares): `url` sets the access cookie and redirects; list entries say more. */
export interface Share {
  id: string;
  url: string;
  expiresAt: string;
  createdAt?: string;
  password?: boolean;
}

export type DeploymentStatus =
  | "queued" | "exporting" | "provisioning" | "restoring" | "verifying_data"
  | "diffing" | "rehearsing" | "migrating" | "rolling_back" | "reverting_schema"
  | "uploading" | "building" | "deploying" | "live" | "failed" | "removed";

/** create: a new project with the preview's data; update: the live one gets new code and the schema change; rollback: the previous code again. */
export type DeploymentMode = "create" | "update" | "rollback";

/** How a schema statement changes production: additive keeps every row and value; rewriting rewrites a table; destructive loses data. */
export type StatementClass = "additive" | "rewriting" | "destructive";

/** The schema change an update carries to production. */
export interface Migration {
  statements: { sql: string; class: StatementClass; summary: string; confirmedBy?: string }[];
  counts: Record<StatementClass, number>;
  warnings: string[];
  unusedConfirmations?: string[];
  /** The run against a copy of production before the real one. */
  rehearsal?: Record<string, unknown>;
  applied?: { statements: number; ms: number; detail: string };
  /** rollback: whether the rolled-back update's schema change stays, and why. */
  schema?: { kept: boolean; reason: string };
}

/** A change the deploy refused until it is confirmed: send one of `options` back in `confirm`. */
export interface ConfirmationNeeded {
  change: string;
  options: string[];
}

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
  mode: DeploymentMode;
  status: DeploymentStatus;
  steps: DeploymentStep[];
  url?: string;
  data?: { tables: number; rows: number; verified: boolean };
  migration?: Migration;
  providerIds?: Record<string, string>;
  /** details.confirm: the changes a deploy refused until confirmed by name. */
  error?: { step: string; message: string; details?: { confirm?: ConfirmationNeeded[] } & Record<string, unknown> };
}

export interface DeployOptions {
  projectName?: string;
  /** Drop the preview's schema once the deployment is live. */
  cleanup?: boolean;
  /** Default: update when the preview has a live deployment, else create. */
  mode?: "create" | "update";
  /** Destructive or ambiguous schema changes allowed, by their exact text ("drop column products.legacy"). */
  confirm?: string[];
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
