// This node's container tier as its operations (create.ts, file-change.ts)
// see it: the collaborators the orchestrator builds once and shares.
import type { DepsCache } from "../deps/index.ts";
import type { Lifecycle } from "../lifecycle/index.ts";
import type { Logger } from "../log.ts";
import type { IdleClock, Runtime, WarmPool } from "../pool/index.ts";
import type { BringUp } from "./bringup.ts";
import type { DiskFloor } from "./disk-floor.ts";
import type { LiveSet } from "./live.ts";
import type { PreviewDatabases, PreviewStore } from "./ports.ts";
import type { SleepCycle } from "./sleep.ts";
import type { MemoryAccount } from "./memory.ts";

export interface NodeParts {
  nodeId: string;
  capacity: number;
  runtime: Runtime;
  store: PreviewStore;
  databases?: PreviewDatabases;
  deps?: DepsCache;
  log: Logger;
  lifecycle: Lifecycle;
  live: LiveSet;
  pool: WarmPool;
  bringUp: BringUp;
  disk: DiskFloor;
  sleep: SleepCycle;
  idle: IdleClock;
  /** Capacity by memory; unset: by count only. */
  memory?: MemoryAccount;
  observe?: (event: "create", seconds: number, labels: Record<string, string>) => void;
}
