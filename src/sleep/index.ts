// Deep sleep's memory side: the reclaimer port, its adapters, and what the host offers.
export type { MemoryReclaimer, ReclaimResult } from "./reclaimer.ts";
export { mib } from "./reclaimer.ts";
export { CgroupV1Reclaimer } from "./cgroup-v1.ts";
export { CgroupV2Reclaimer } from "./cgroup-v2.ts";
export { MemoryReclaimerFake } from "./memory.ts";
export { describeSwap, probeHost, probeSwap, setUpDeepSleep, type HostMemory, type SwapFacts } from "./probe.ts";
