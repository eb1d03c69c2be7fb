// What installing an app's dependencies means, decided from its files alone
// (pure: table-tested). The package manager follows the lockfile; the cache
// key is a hash of everything the install's result depends on, so two
// previews with the same key can share one sealed node_modules:
//   - package.json whole (its own postinstall/prepare scripts run at install,
//     so a preview that reused a popular lockfile with a different root
//     script would otherwise poison everyone's entry),
//   - the lockfile whole (integrity hashes included),
//   - the package manager's config files (.npmrc: registry, scopes),
//   - the package manager, the image (platform) and the Node.js line's ABI
//     (native addons built for one ABI do not load on another).
import { createHash } from "node:crypto";
import { contentBytes, contentText } from "../files.ts";
import { nodeBinDir, type NodeLine } from "../nodejs/lines.ts";
import type { FileMap } from "../types.ts";

export type PackageManager = "npm" | "pnpm" | "yarn" | "bun";

export interface InstallPlan {
  manager: PackageManager;
  /** The lockfile the install follows; none: npm resolves and writes package-lock.json. */
  lockfile?: string;
  /** argv run in the install directory. */
  command: string[];
  /** Files copied into the install directory, as the app has them. */
  inputs: FileMap;
  /** Content address of the result. */
  key: string;
  /** Packages the lockfile lists (for progress), when it can be counted cheaply. */
  packages?: number;
  /** For humans: "npm ci, 143 packages". */
  label: string;
  /** The Node.js line's bin directory the install runs with, first on PATH (unset: the image's default). */
  nodeBin?: string;
}

/** The majors of the package managers installed globally in the image (scripts/build-base-image): another major goes through corepack. */
const GLOBAL_MAJOR: Partial<Record<PackageManager, number>> = { pnpm: 9, yarn: 1 };

/** Lockfiles in the order a tool would look for them. */
const LOCKFILES: Array<[string, PackageManager]> = [
  ["pnpm-lock.yaml", "pnpm"],
  ["bun.lock", "bun"],
  ["bun.lockb", "bun"],
  ["yarn.lock", "yarn"],
  ["package-lock.json", "npm"],
  ["npm-shrinkwrap.json", "npm"],
];
const CONFIG_FILES = [".npmrc", ".yarnrc", "pnpm-workspace.yaml", "bunfig.toml"];
/** Every file an install reads: a change to one of them means installing again. */
export const INSTALL_INPUTS = ["package.json", ...LOCKFILES.map(([name]) => name), ...CONFIG_FILES];

export class PlanError extends Error {}

/**
 * The install an app needs, or undefined when there is nothing to install
 * (no package.json, no dependencies, or the app ships its own node_modules).
 * `image` names the image the install runs in and `node` the Node.js line
 * (both part of the key).
 */
export function planInstall(files: FileMap, image: string, node?: NodeLine): InstallPlan | undefined {
  const pkgText = files["package.json"] !== undefined ? contentText(files["package.json"]) : undefined;
  if (pkgText === undefined) return undefined;
  if (Object.keys(files).some((p) => p === "node_modules" || p.startsWith("node_modules/"))) return undefined;
  let pkg: Record<string, unknown>;
  try {
    pkg = JSON.parse(pkgText);
  } catch (e) {
    throw new PlanError(`package.json is not valid JSON: ${(e as Error).message}`);
  }
  const found = LOCKFILES.find(([name]) => files[name] !== undefined);
  const hasDeps = ["dependencies", "devDependencies", "optionalDependencies"].some((f) => Object.keys((pkg[f] as object) ?? {}).length > 0);
  if (!found && !hasDeps) return undefined;

  const [lockfile, manager] = found ?? [undefined, "npm" as const];
  const inputs: FileMap = { "package.json": files["package.json"]! };
  for (const name of [lockfile, ...CONFIG_FILES]) if (name && files[name] !== undefined) inputs[name] = files[name]!;
  const lockText = lockfile && lockfile !== "bun.lockb" ? contentText(files[lockfile]!) : undefined;

  if (lockfile === "yarn.lock" && /^__metadata:/m.test(lockText!)) {
    throw new PlanError("yarn.lock is a Yarn 2+ (Berry) lockfile; previewd installs with Yarn 1 (classic), npm, pnpm or bun.");
  }
  const command = withCorepack(commandFor(manager, lockfile !== undefined), manager, pkg.packageManager);
  const packages = lockfile && lockText !== undefined ? countPackages(lockfile, lockText) : undefined;
  const key = createHash("sha256")
    .update(JSON.stringify({ v: 4, manager, image, node: node && `${node.major}/abi${node.abi}`, inputs: Object.entries(inputs).map(([name, c]) => [name, sha256(contentBytes(c))]).sort() }))
    .digest("hex")
    .slice(0, 40);
  const label = `${command.slice(0, command[0] === "corepack" ? 3 : 2).join(" ")}${packages !== undefined ? `, ${packages} packages` : ""}`;
  return { manager, lockfile, command, inputs, key, packages, label, nodeBin: node && nodeBinDir(node.major) };
}

/**
 * package.json's packageManager ("pnpm@10.20.0+sha512...") naming another
 * major than the image's global one: corepack runs that version (downloaded
 * from the registry, its hash checked when the field has one). Same major, or
 * no field: the global one, with no download.
 */
function withCorepack(command: string[], manager: PackageManager, field: unknown): string[] {
  const m = typeof field === "string" ? /^(pnpm|yarn)@(\d+)\./.exec(field) : null;
  if (!m || m[1] !== manager || Number(m[2]) === GLOBAL_MAJOR[manager]) return command;
  return ["corepack", ...command];
}

const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");

function commandFor(manager: PackageManager, locked: boolean): string[] {
  switch (manager) {
    case "npm":
      // --foreground-scripts: postinstall output reaches the preview's logs as it happens.
      return locked ? ["npm", "ci", "--no-audit", "--no-fund", "--foreground-scripts"] : ["npm", "install", "--no-audit", "--no-fund", "--foreground-scripts"];
    case "pnpm":
      // Copy, not hard links: the store is in the install container, the result on the cache's disk.
      return ["pnpm", "install", "--frozen-lockfile", "--reporter=append-only", "--package-import-method=copy", "--store-dir=/tmp/pnpm-store"];
    case "yarn":
      return ["yarn", "install", "--frozen-lockfile", "--non-interactive", "--no-progress"];
    case "bun":
      return ["bun", "install", "--frozen-lockfile"];
  }
}

/** Approximate counts, good enough for a progress line. */
function countPackages(lockfile: string, text: string): number | undefined {
  try {
    if (lockfile === "package-lock.json" || lockfile === "npm-shrinkwrap.json") {
      const lock = JSON.parse(text) as { packages?: Record<string, unknown>; dependencies?: Record<string, unknown> };
      if (lock.packages) return Object.keys(lock.packages).filter((k) => k.includes("node_modules/")).length;
      return Object.keys(lock.dependencies ?? {}).length;
    }
    if (lockfile === "pnpm-lock.yaml") {
      const section = /^packages:\n([\s\S]*?)(?=^\S|$(?![\s\S]))/m.exec(text)?.[1] ?? "";
      return section.split("\n").filter((l) => /^ {2}\S.*:\s*$/.test(l)).length;
    }
    if (lockfile === "yarn.lock") return text.split("\n").filter((l) => /^"?[^\s#"][^\n]*:\s*$/.test(l)).length;
  } catch {
    // A broken lockfile is the installer's to report, with its own words.
  }
  return undefined;
}
