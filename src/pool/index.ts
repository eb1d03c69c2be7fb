export type { ContainerState, JobOutcome, JobSpec, Runtime, RuntimeEvent, StartOrder } from "./runtime.ts";
export { WarmPool } from "./warm.ts";
export { IdleClock } from "./idle.ts";
