// What an app's files need before it can run, decided once for every tier
// (container, browser build, Fly): the Node.js line (src/nodejs/) and the
// install (plan.ts), whose cache key includes that line's ABI. Errors are the
// API's 400s: a package.json that cannot be installed, a Node.js version
// nothing offered satisfies.
import { badRequest } from "../errors.ts";
import { chooseNode, type NodeLine } from "../nodejs/index.ts";
import type { FileMap, NodeRuntime } from "../types.ts";
import { PlanError, planInstall, type InstallPlan } from "./plan.ts";

export interface Prepared {
  /** Unset: the image offers no lines (no label), and its default node runs. */
  runtime?: NodeRuntime;
  line?: NodeLine;
  /** Unset: nothing to install (or no dependency cache here). */
  plan?: InstallPlan;
}

export interface ToolchainOptions {
  /** Identifies the image (part of cache keys). */
  image: string;
  lines: NodeLine[];
  /** Whether installs are planned at all (a node without a dependency cache plans none). */
  installs: boolean;
  now?: () => Date;
}

export class Toolchain {
  constructor(private readonly o: ToolchainOptions) {}

  /** The line and install for these files; AppError 400 when either cannot be. */
  prepare(files: FileMap): Prepared {
    const choice = chooseNode(files, this.o.lines, (this.o.now ?? (() => new Date()))());
    let plan: InstallPlan | undefined;
    try {
      plan = this.o.installs ? planInstall(files, this.o.image, choice?.line) : undefined;
    } catch (err) {
      if (err instanceof PlanError) throw badRequest(err.message);
      throw err;
    }
    return { runtime: choice?.runtime, line: choice?.line, plan };
  }
}
