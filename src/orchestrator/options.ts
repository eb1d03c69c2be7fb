// What the composition root gives this node's container tier.
import type { DepsCache } from "../deps/index.ts";
import type { Lifecycle } from "../lifecycle/index.ts";
import type { Logger } from "../log.ts";
import type { Runtime } from "../pool/index.ts";
import type { MemoryReclaimer } from "../sleep/index.ts";
import type { MemoryOptions } from "./memory.ts";
import type { PreviewDatabases, PreviewStore } from "./ports.ts";

export interface OrchestratorOptions {
  nodeId: string;
  /** The node's lifecycle (one for every tier); unset: one of its own. */
  lifecycle?: Lifecycle;
  /** Activity this node saw for a preview it does not run (its idle clock is kept elsewhere). */
  foreignActivity?: (id: string, at: Date) => void;
  runtime: Runtime;
  store: PreviewStore;
  databases?: PreviewDatabases;
  log: Logger;
  warmPoolSize: number;
  capacity: number;
  idleTimeoutMs: number;
  stopAfterMs: number;
  /** Deep sleep (src/sleep/): suspended this long, memory pushed out by `reclaimer`; 0 or unset: never. */
  reclaimAfterMs?: number;
  reclaimer?: MemoryReclaimer;
  /** Capacity by memory (memory.ts); unset: by count only. */
  memory?: Omit<MemoryOptions, "resident"> & { resident?: MemoryOptions["resident"] };
  startTimeoutMs: number;
  previewUrl: (id: string) => string;
  /** The dependency cache; without it, apps get no install step. */
  deps?: DepsCache;
  /** The CPU limit of a running preview (containers start boosted). */
  cpus: number;
  /** CPUs while installing and starting (startup boost). */
  boostCpus?: number;
  /** Latencies for metrics: a create reached running (or failed), a wake finished. */
  observe?: (event: "create" | "wake", seconds: number, labels: Record<string, string>) => void;
  /** How often records, containers and routes are compared (drift.ts); unset: never. */
  driftIntervalMs?: number;
  /**
   * Directories whose disk a create or a file change writes to (preview disks, dependency cache). Below
   * `minFreeMb` free, both answer 507 before writing anything (disk-floor.ts).
   */
  storage?: { dirs: string[]; minFreeMb: number };
  /** A preview's memory limit (MB), named when an OOM kill explains an exit. */
  memoryMb?: number;
  /** The memory limit (MB) of a preview whose package.json depends on next (memory-class.ts); unset or not above memoryMb: none. */
  largeMemoryMb?: number;
  /** Restarts of code-0 exits allowed per window (clean-exit.ts; default 3 in 10 minutes). */
  cleanExit?: { restarts?: number; windowMs?: number };
}
