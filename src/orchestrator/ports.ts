// What the orchestrator needs from the outside world. The core owns these
// interfaces; db/ and pool/docker.ts implement them, and only the composition
// root (daemon.ts) wires concrete ones in.
import type { DatabaseRequest, FileMap, PreviewDatabase, PreviewRecord, PreviewSpec, PreviewStatus, SleepStage } from "../types.ts";

export interface RecordPatch {
  status?: PreviewStatus;
  /** null: awake (cleared when it leaves suspended). */
  sleep?: SleepStage | null;
  node?: string;
  failure?: string | null;
  containerId?: string | null;
  lastActiveAt?: Date;
  database?: PreviewDatabase;
  /** The spec without its files (they have their own table). */
  spec?: PreviewSpec;
}

/** The durable record of previews (PostgreSQL in production). */
export interface PreviewStore {
  insert(record: PreviewRecord & { containerId?: string }): Promise<void>;
  update(id: string, patch: RecordPatch): Promise<void>;
  get(id: string): Promise<PreviewRecord | undefined>;
  list(): Promise<PreviewRecord[]>;
  listByNode(node: string): Promise<PreviewRecord[]>;
  files(id: string): Promise<FileMap>;
  putFiles(id: string, files: FileMap, deletePaths?: string[]): Promise<void>;
  remove(id: string): Promise<void>;
  /**
   * Moves a preview off a dead node; true for the one caller that won. With
   * `staleMs`, only if `from` has not written a heartbeat for that long (it is
   * not merely on the far side of a network split).
   */
  claim(id: string, from: string, to: string, staleMs?: number): Promise<boolean>;
  /** This node is alive: the heartbeat `claim` checks (optional: a store without it never blocks a claim). */
  beat?(node: string): Promise<void>;
}

/** Per-preview database space (schema + role). */
export interface PreviewDatabases {
  create(id: string, req: DatabaseRequest): Promise<PreviewDatabase>;
  drop(id: string): Promise<void>;
  exportStream(id: string): Promise<ReadableStream<Uint8Array>>;
}
