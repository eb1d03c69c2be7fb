// The container runtime as the pool sees it. The core (pool, orchestrator)
// depends on this interface only; docker.ts is the one adapter that imports
// dockerode, so the core can be read without knowing Docker's API.
import type { NodeLine } from "../nodejs/index.ts";
import type { Endpoint, FileMap } from "../types.ts";

/**
 * The in-container runner's control port (docker/runner/runner.mjs: start,
 * restart, status). It shares the app's network namespace, so an app may not
 * ask for it: the proxy would expose the runner's POST /restart publicly.
 */
export const CONTROL_PORT = 7070;

export interface ContainerState {
  containerId: string;
  previewId: string;
  /** Address of the container on the preview network (host -> container, no NAT). */
  ip: string;
  status: "created" | "running" | "paused" | "restarting" | "exited" | "dead" | "removing";
  exitCode: number;
  restartCount: number;
  /** The kernel's OOM killer ended a process of its cgroup in its last run (Docker's State.OOMKilled). */
  oomKilled?: boolean;
}

/** What the runner inside the container needs to start the app. */
export interface StartOrder {
  command?: string[];
  /** The port asked for; unset: the runner finds the one the app listens on. */
  port?: number;
  /** The PORT the app is given (a hint dev servers may ignore). */
  portHint: number;
  env: Record<string, string>;
  /** The dependency cache entry /app/node_modules points at. */
  deps?: { key: string };
  /** The chosen Node.js line's bin directory, first on the app's PATH (unset: the image's default node). */
  nodeBin?: string;
}

/** A one-off job in a confined container (dependency installs). */
export interface JobSpec {
  role: string;
  cmd: string[];
  workdir: string;
  env: Record<string, string>;
  /** host:container[:ro] bind mounts. */
  binds: string[];
  /** A host directory mounted at /tmp, with the root filesystem read-only: the job writes only to its mounts. */
  tmpDir?: string;
  timeoutMs: number;
  onOutput: (text: string) => void;
  signal: AbortSignal;
}

export interface JobOutcome {
  exitCode: number;
  oomKilled: boolean;
  timedOut: boolean;
}

export type RuntimeEvent = { previewId: string; containerId: string; action: "start" | "die" | "pause" | "unpause" | "destroy" | "oom" };

/**
 * The container engine, as the core needs it: containers, their files, their
 * limits, one-off jobs, events and logs (docker.ts adapts Docker; memory-runtime.ts
 * is the in-memory one).
 */
export interface ContainerEngine {
  /** Creates and starts an idle container for a preview id decided now. */
  create(previewId: string): Promise<ContainerState>;
  /** Copies the files into the app root (creating directories as needed). */
  putFiles(containerId: string, files: FileMap): Promise<void>;
  deleteFiles(containerId: string, paths: string[]): Promise<void>;
  /** Changes a container's CPU quota (startup boost, then the preview's limit). */
  setCpus(containerId: string, cpus: number): Promise<void>;
  /** Changes a container's memory limit (no swap), before its app starts (memory-class.ts). */
  setMemory(containerId: string, mb: number): Promise<void>;
  runJob(job: JobSpec): Promise<JobOutcome>;
  /** What identifies the image's Node.js build and platform (part of dependency cache keys). */
  imageIdentity(): Promise<string>;
  /** The Node.js lines the image offers (its previewd.node-lines label); none for an image without one. */
  nodeLines(): Promise<NodeLine[]>;
  inspect(containerId: string): Promise<ContainerState | undefined>;
  /** Containers of this node only (by the previewd.node label). */
  list(): Promise<ContainerState[]>;
  /** Previews whose own disk went read-only (the host's disk filled under it: pool/disk.ts). */
  readOnlyDisks(): Set<string>;
  pause(containerId: string): Promise<void>;
  unpause(containerId: string): Promise<void>;
  stop(containerId: string): Promise<void>;
  start(containerId: string): Promise<void>;
  remove(containerId: string): Promise<void>;
  logs(containerId: string, opts: { tail?: number; follow?: boolean; signal?: AbortSignal }): Promise<ReadableStream<Uint8Array>>;
  /**
   * Docker events for this node's containers; returns a stop function. The
   * stream is re-established when the engine comes back, and `onReturn` is
   * then told since when (ms) it was away: events of that time are lost.
   */
  watch(onEvent: (e: RuntimeEvent) => void, onReturn?: (downSince: number) => void): Promise<() => void>;
  endpoint(state: ContainerState, port: number): Endpoint;
}

/** The in-container runner's protocol (docker/runner/runner.mjs): start orders and what it reports. */
export interface RunnerControl {
  /** Gives the idle runner its start order (once). */
  startApp(state: ContainerState, order: StartOrder): Promise<void>;
  /** A new order for a running app: it restarts in place (same container, same address). */
  restartApp(state: ContainerState, order: StartOrder): Promise<void>;
  /** The port the app serves on, as the runner sees it; undefined while there is none. */
  appPort(state: ContainerState): Promise<number | undefined>;
  /** True while the runner waits for a start order (a warm container). */
  isIdle(state: ContainerState): Promise<boolean>;
}

/** Both ports, as one adapter serves them. */
export type Runtime = ContainerEngine & RunnerControl;
