export type { ContainerEngine, ContainerState, JobOutcome, JobSpec, RunnerControl, Runtime, RuntimeEvent, StartOrder } from "./runtime.ts";
export { WarmPool } from "./warm.ts";
export { IdleClock } from "./idle.ts";
