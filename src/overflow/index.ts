// overflow/: previewd's Fly Machines adapter. The daemon depends on MachinesApi;
// FlyMachines is its HTTP implementation (see STATUS.md for how it is wired).
export { FlyMachines, authorizationHeader, retryAfterMs } from "./machines.ts";
export type { App, Machine, MachineState, MachinesApi, FlyMachinesOptions, RetryPolicy, WaitState } from "./machines.ts";
export { FlyApiError, FlyCapacityError } from "./errors.ts";
export { buildMachineConfig, machineFiles, autostopMode, METADATA, DEFAULT_GUEST } from "./config.ts";
export type { MachineConfig, MachineFile, MachineService, PreviewMachineInput } from "./config.ts";
export { KeyedRateLimiter, FLY_LIMITS } from "./limiter.ts";
