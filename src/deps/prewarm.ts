// PREVIEWD_PREWARM: project folders (a package.json and its lockfile, such as
// the templates an app builder starts every app from) installed into the
// cache when the daemon starts, so previews of those stacks start hot ("common
// deps pre-installed"). A lockfile names exact versions, so only an app with
// the same package.json and lockfile gets the entry: prewarm the templates
// your users start from.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "../log.ts";
import type { FileMap } from "../types.ts";
import type { DepsCache } from "./cache.ts";
import { INSTALL_INPUTS, type InstallPlan } from "./plan.ts";

/** The install inputs a folder holds (package.json, lockfile, package manager config, Node.js version files). */
export function readInstallInputs(dir: string): FileMap {
  const files: FileMap = {};
  for (const name of [...INSTALL_INPUTS, ".nvmrc", ".node-version"]) {
    const p = join(dir, name);
    if (existsSync(p)) files[name] = name === "bun.lockb" ? { base64: readFileSync(p).toString("base64") } : readFileSync(p, "utf8");
  }
  return files;
}

/** Installs each folder's dependencies into the cache, one after another, planned as a preview's would be (`plan`); never throws. */
export async function prewarm(dirs: string[], cache: DepsCache, planFor: (files: FileMap) => InstallPlan | undefined, log: Logger): Promise<void> {
  for (const dir of dirs) {
    try {
      const plan = planFor(readInstallInputs(dir));
      if (!plan) {
        log.warn({ dir }, "prewarm: nothing to install there (no package.json with dependencies)");
        continue;
      }
      const r = await cache.ensure(plan, () => {});
      log.info({ dir, key: plan.key, label: plan.label, cached: r.hit }, "prewarm: dependencies ready");
    } catch (err) {
      log.warn({ dir, err: (err as Error).message }, "prewarm: install failed");
    }
  }
}
