// The container runtime as the pool sees it. The core (pool, orchestrator)
// depends on this interface only; docker.ts is the one adapter that imports
// dockerode, so the core can be read without knowing Docker's API.
import type { Endpoint, FileMap } from "../types.ts";

export interface ContainerState {
  containerId: string;
  previewId: string;
  /** Address of the container on the preview network (host -> container, no NAT). */
  ip: string;
  status: "created" | "running" | "paused" | "restarting" | "exited" | "dead" | "removing";
  exitCode: number;
  restartCount: number;
}

/** What the runner inside the container needs to start the app. */
export interface StartOrder {
  command?: string[];
  port: number;
  env: Record<string, string>;
}

export type RuntimeEvent = { previewId: string; containerId: string; action: "start" | "die" | "pause" | "unpause" | "destroy" | "oom" };

export interface Runtime {
  /** Creates and starts an idle container for a preview id decided now. */
  create(previewId: string): Promise<ContainerState>;
  /** Copies the files into the app root (creating directories as needed). */
  putFiles(containerId: string, files: FileMap): Promise<void>;
  deleteFiles(containerId: string, paths: string[]): Promise<void>;
  /** Gives the idle runner its start order (once). */
  startApp(state: ContainerState, order: StartOrder): Promise<void>;
  /** True while the runner waits for a start order (a warm container). */
  isIdle(state: ContainerState): Promise<boolean>;
  inspect(containerId: string): Promise<ContainerState | undefined>;
  /** Containers of this node only (by the previewd.node label). */
  list(): Promise<ContainerState[]>;
  pause(containerId: string): Promise<void>;
  unpause(containerId: string): Promise<void>;
  stop(containerId: string): Promise<void>;
  start(containerId: string): Promise<void>;
  remove(containerId: string): Promise<void>;
  logs(containerId: string, opts: { tail?: number; follow?: boolean; signal?: AbortSignal }): Promise<ReadableStream<Uint8Array>>;
  /** Docker events for this node's containers; returns a stop function. */
  watch(onEvent: (e: RuntimeEvent) => void): Promise<() => void>;
  endpoint(state: ContainerState, port: number): Endpoint;
}
