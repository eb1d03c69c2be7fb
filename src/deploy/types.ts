// The deployment object of spec/api.md, and what the daemon keeps beside it.
import type { SchemaModel } from "./schema/model.ts";
import type { RehearsalReport } from "./schema/rehearse.ts";
import type { Question, Statement, StatementClass } from "./schema/statement.ts";

export type DeploymentStatus =
  | "queued" | "exporting" | "provisioning" | "restoring" | "verifying_data"
  | "diffing" | "rehearsing" | "migrating"
  | "rolling_back" | "reverting_schema"
  | "uploading" | "building" | "deploying" | "live" | "failed" | "removed";

/** create: a new project with the preview's data; update: the live one gets new code and the schema change; rollback: the previous code again. */
export type DeploymentMode = "create" | "update" | "rollback";

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
  mode: DeploymentMode;
  /** Confirmations of destructive or ambiguous schema changes, by their exact text. */
  confirm?: string[];
  /** update: the live deployment it updates; rollback: the update it rolls back. */
  base?: string;
  /** The provider's deployment that served before this one started (an update's or rollback's own is newer). */
  previousProviderDeploymentId?: string;
  /** rollback: the provider's deployment whose code goes back live. */
  rollbackTo?: string;
}

/** The schema change an update carries (public). */
export interface MigrationView {
  statements: { sql: string; class: StatementClass; summary: string; confirmedBy?: string }[];
  counts: Record<StatementClass, number>;
  warnings: string[];
  unusedConfirmations?: string[];
  rehearsal?: RehearsalReport;
  applied?: { statements: number; ms: number; detail: string };
  /** rollback: what became of the rolled-back update's schema change. */
  schema?: { kept: boolean; reason: string };
}

/** What a resumed run needs to plan the same migration again (not public). */
export interface MigrationPlanRecord {
  /** The preview's schema as it was diffed. */
  preview?: SchemaModel;
  statements: Statement[];
  /** What `migrating` ran on production (a rollback may undo these, never what production already had). */
  applied?: Statement[];
}

export interface DeploymentError {
  step: string;
  message: string;
  /** e.g. {confirm: [{change, options}]}: what a client shows and sends back. */
  details?: unknown;
}

export interface Deployment {
  id: string;
  previewId: string;
  provider: "railway";
  mode: DeploymentMode;
  status: DeploymentStatus;
  steps: DeploymentStep[];
  url?: string;
  data?: DataCheck;
  migration?: MigrationView;
  providerIds: ProviderIds;
  error?: DeploymentError;
  createdAt: string;
  updatedAt: string;
}

/** The stored row: the public object plus who runs it and what was asked. */
export interface DeploymentRecord extends Deployment {
  node: string;
  request: DeployRequest;
  /** DELETE asked for while it ran: the runner stops at the next step and tears down. */
  cancel: boolean;
  plan?: MigrationPlanRecord;
}

export type { Question };
