// The install step and the content-addressed dependency cache.
export { DepsCache, InstallError, defaultCapBytes, diskUsage, type EnsureResult, type Installer, type InstallOutcome } from "./cache.ts";
export { OutputLog } from "./output.ts";
export { prewarm } from "./prewarm.ts";
export { INSTALL_INPUTS, PlanError, planInstall, type InstallPlan, type PackageManager } from "./plan.ts";
export { sandboxInstaller } from "./sandbox.ts";
export { Toolchain, type Prepared } from "./toolchain.ts";
