// Shared domain types. This file imports nothing: every module may depend on it.

export type PreviewStatus = "installing" | "starting" | "running" | "suspended" | "stopped" | "failed" | "deleted";
export type Tier = "browser" | "container" | "fly";
/** Who may reach a preview's URL: anyone, or only requests with access (a share link's cookie). */
export type Visibility = "public" | "private";
/** A suspended container preview's stage: its memory kept in RAM (frozen), or pushed out to swap (reclaimed). */
export type SleepStage = "frozen" | "reclaimed";

/**
 * A file's content: UTF-8 text as a string, or any bytes as {base64}.
 * Helpers to turn either into bytes are in files.ts (this file stays a leaf).
 */
export type FileContent = string | { base64: string };

/** App files: relative POSIX path -> content. Paths are validated at the edge. */
export type FileMap = Record<string, FileContent>;

export interface DatabaseRequest {
  migrations: string[];
  seed?: string;
}

/** Where a preview's Node.js line came from: the first of these the app has, else the newest LTS line. */
export type NodeSource = ".nvmrc" | ".node-version" | "volta.node" | "devEngines.runtime" | "engines.node" | "default";

/** The Node.js a preview runs on (the preview object's `runtime`). */
export interface NodeRuntime {
  node: string;
  source: NodeSource;
}

/** What a client asked for; validated, with defaults applied. */
export interface PreviewSpec {
  files: FileMap;
  command?: string[];
  /** The port to route to; unset: the port the app is seen listening on. */
  port?: number;
  env: Record<string, string>;
  database?: DatabaseRequest;
  tier: "auto" | Tier;
  /** Set by the daemon: the Node.js line chosen from the app's files (src/nodejs/). */
  runtime?: NodeRuntime;
  /** Asked for at create (PREVIEWD_VISIBILITY when not); the current value is PreviewRecord.visibility. */
  visibility?: Visibility;
  /** Set by the daemon: the dependency cache entry the app uses (kept so eviction spares it after a restart). */
  deps?: { key: string; manager: string };
  /** Set by the daemon: a memory limit (MB) above the node's default, for apps that need it (memory-class.ts). */
  memoryMb?: number;
  /** Set by the daemon: why tier auto chose where it runs. */
  tierReason?: string;
  /** Set by the daemon for a preview on Fly: its machine and what it has run so far. */
  fly?: FlyState;
  /** Set by the daemon for a browser-tier preview: who builds it, and the build every node serves. */
  browser?: { builtBy: string; buildId?: string };
}

export interface FlyState {
  machineId?: string;
  region?: string;
  /** The node that created it (it runs the idle policy). */
  createdBy: string;
  runningSeconds: number;
  suspendedSeconds: number;
  /** When the current state began (ISO), for the seconds counters. */
  since: string;
}

export interface PreviewDatabase {
  schema: string;
  url: string;
  /** The same with ?schema= for Prisma (shown in the preview object; PRISMA_DATABASE_URL in the app). */
  prismaUrl?: string;
  /** Reached through PgBouncer in transaction mode. */
  pooled?: boolean;
}

/** The durable record of a preview (one row in previewd.previews). */
export interface PreviewRecord {
  id: string;
  node: string;
  tier: Tier;
  status: PreviewStatus;
  /** While suspended (container tier): frozen or reclaimed. */
  sleep?: SleepStage;
  spec: PreviewSpec;
  database?: PreviewDatabase;
  failure?: string;
  /** Its own column (sql/009_access.sql); unset on a record made before it: the spec's, else public. */
  visibility?: Visibility;
  createdAt: Date;
  lastActiveAt: Date;
}

/** The public preview object of spec/api.md. */
export interface PreviewView {
  id: string;
  url: string;
  status: PreviewStatus;
  /** While suspended: memory kept in RAM (frozen), or pushed out to swap (reclaimed). */
  sleep?: SleepStage;
  tier: Tier;
  node: string;
  visibility: Visibility;
  createdAt: string;
  lastActiveAt: string;
  database?: PreviewDatabase;
  error?: string;
  /** What it is doing now, for progress displays ("installing dependencies (npm ci, 143 packages)"). */
  phase?: string;
  /** Why tier auto chose this tier. */
  tierReason?: string;
  /** The Node.js it runs on, and which file chose it. */
  runtime?: NodeRuntime;
  /** What its container uses now (memory as `docker stats` shows it, CPU in percent of one core); shown by the node that runs it. */
  usage?: { memoryBytes: number; cpuPercent?: number };
  /** A preview on Fly: its machine, time run and suspended, and what that cost (estimated from price settings). */
  fly?: { machineId?: string; region?: string; runningSeconds: number; suspendedSeconds: number; estimatedCostUsd: number };
}

/** Where to send bytes for a preview: an address the proxy can connect to. */
export interface Endpoint {
  host: string;
  port: number;
}

/** One node as the cluster sees it (GET /v1/cluster). */
export interface NodeView {
  id: string;
  /** left: stopped on purpose and expected back (its previews stay put for PREVIEWD_RESTART_GRACE). */
  state: "alive" | "suspect" | "left" | "dead";
  capacity: number;
  running: number;
  free: number;
  /** Memory for previews on the node (bytes), where capacity is counted by memory. */
  memory?: { total: number; free: number };
  addr: string;
  /** This node only: gossip's local health multiplier (Lifeguard; 0 healthy, up to 8 when it misses its own deadlines). */
  localHealth?: number;
}
