// What the control API needs from the daemon. The orchestrator (one node) and
// the cluster router (any node) implement it; the API does not care which.
import type { FileMap, NodeView, PreviewSpec, PreviewView, Visibility } from "../types.ts";

export interface PreviewService {
  create(spec: PreviewSpec, opts: { wait?: boolean }): Promise<PreviewView>;
  list(): Promise<PreviewView[]>;
  get(id: string): Promise<PreviewView>;
  updateFiles(id: string, files: FileMap, remove: string[]): Promise<PreviewView>;
  logs(id: string, opts: { tail?: number; follow?: boolean; signal?: AbortSignal }): Promise<ReadableStream<Uint8Array>>;
  suspend(id: string): Promise<PreviewView>;
  resume(id: string): Promise<PreviewView>;
  delete(id: string): Promise<void>;
  exportDatabase(id: string): Promise<ReadableStream<Uint8Array>>;
}

export interface ClusterService {
  /** `warmPool`: this node's warm containers (each node keeps its own pool; gossip does not carry it). */
  view(): { nodes: NodeView[]; overflow: { fly: boolean }; warmPool?: { node: string; available: number; target: number } };
}

/** Deployments (deploy/): any node shows and removes any of them. Objects are the spec's deployment object. */
export interface DeploymentService {
  create(previewId: string, req: { provider: "railway"; projectName?: string; cleanup?: boolean; mode?: "create" | "update"; confirm?: string[] }): Promise<object>;
  /** POST /v1/deployments/{id}/rollback: a new deployment (mode "rollback") that puts the previous code back. */
  rollback(id: string): Promise<object>;
  get(id: string): Promise<object>;
  list(previewId: string): Promise<Array<{ id: string; status: string; steps: unknown[]; url?: string }>>;
  remove(id: string): Promise<object>;
}

/** A share link as the API shows it (POST answers id, url and expiresAt; GET lists these with the rest). */
export interface ShareView {
  id: string;
  url: string;
  expiresAt: string;
  createdAt: string;
  password: boolean;
}

/** Visibility and share links (access/): stored in the shared database, so any node answers. */
export interface AccessService {
  setVisibility(id: string, v: Visibility): Promise<void>;
  /** What this node's proxy enforces now (undefined: not known here yet). */
  visibilityOf(id: string): Visibility | undefined;
  createShare(previewId: string, previewUrl: string, o: { ttlSeconds: number; password?: string }): Promise<ShareView>;
  listShares(previewId: string, previewUrl: string): Promise<ShareView[]>;
  revokeShare(previewId: string, shareId: string): Promise<void>;
}
