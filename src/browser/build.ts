// The static runtime's build: the app's own `build` script, run in the
// sandbox like an install (it is a stranger's code: uid 1000, no
// capabilities, memory, CPU and time limits), with its dependencies from the
// cache, in a work directory of its own. What it wrote to dist/, build/ or
// out/ is read back; symbolic links are never followed (the build made them,
// and they could point anywhere on this host).
import { createHash, randomBytes } from "node:crypto";
import { chownSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { type DepsCache, InstallError, planInstall } from "../deps/index.ts";
import { contentBytes } from "../files.ts";
import { DEPS_MOUNT } from "../pool/docker.ts";
import type { Runtime } from "../pool/index.ts";
import { APP_UID } from "../pool/tar.ts";
import type { FileMap } from "../types.ts";

export class BuildError extends Error {}

export interface StaticBuilderOptions {
  runtime: Runtime;
  deps?: DepsCache;
  /** The image's identity (part of dependency cache keys). */
  imageIdentity(): Promise<string>;
  /** Where build work directories go (removed after each build). */
  workRoot: string;
  /** The dependency cache's entries directory (mounted read-only, as in previews). */
  depsEntries: string;
  timeoutMs: number;
  /** The most a build's output may hold. */
  maxOutputBytes: number;
  maxOutputFiles: number;
}

const OUTPUT_DIRS = ["dist", "build", "out"];
const RUN_BUILD: Record<string, string> = { npm: "npm run build", pnpm: "pnpm run build", yarn: "yarn build", bun: "bun run build" };

export class StaticBuilder {
  constructor(private readonly o: StaticBuilderOptions) {}

  /** What a build's output depends on: every file (path and bytes) and the image it runs in. */
  async sourceHash(files: FileMap): Promise<string> {
    const h = createHash("sha256").update(await this.o.imageIdentity()).update("\0");
    for (const path of Object.keys(files).sort()) h.update(path).update("\0").update(contentBytes(files[path]!)).update("\0");
    return h.digest("hex");
  }

  /** The site's files: the build's output, or the files themselves when there is no build script. */
  async build(previewId: string, files: FileMap, out: (text: string) => void, signal: AbortSignal): Promise<Map<string, Uint8Array>> {
    const pkg = readPackage(files);
    if (!pkg?.scripts?.build) {
      out("[previewd] no build script: serving the files as they are\n");
      return new Map(Object.entries(files).filter(([p]) => !p.startsWith("node_modules/")).map(([p, c]) => [p, new Uint8Array(contentBytes(c))]));
    }
    const plan = this.o.deps ? planInstall(files, await this.o.imageIdentity()) : undefined;
    if (plan) {
      this.o.deps!.acquire(previewId, plan.key);
      out(`[previewd] dependencies (${plan.label})\n`);
      await this.o.deps!.ensure(plan, out, signal);
    }
    const work = join(this.o.workRoot, `${previewId}-${randomBytes(4).toString("hex")}`);
    try {
      writeTree(work, files);
      const link = plan
        ? `for e in node_modules/.previewd-store/${plan.key}/node_modules/* node_modules/.previewd-store/${plan.key}/node_modules/.bin; do [ -e "$e" ] && ln -sfn "/app/$e" "node_modules/$(basename "$e")"; done; `
        : "";
      const run = RUN_BUILD[plan?.manager ?? "npm"]!;
      out(`[previewd] ${run}\n`);
      const r = await this.o.runtime.runJob({
        role: "build",
        cmd: ["sh", "-c", `set -e; ${link}exec ${run}`],
        workdir: "/app",
        env: { HOME: "/tmp/home", CI: "true", npm_config_update_notifier: "false", NEXT_TELEMETRY_DISABLED: "1" },
        binds: [`${work}:/app`, ...(plan ? [`${this.o.depsEntries}:${DEPS_MOUNT}:ro`] : [])],
        timeoutMs: this.o.timeoutMs,
        onOutput: out,
        signal,
      });
      if (r.timedOut) throw new BuildError(`The build did not finish within ${Math.round(this.o.timeoutMs / 1000)} s.`);
      if (r.oomKilled) throw new BuildError("The build ran out of memory.");
      if (r.exitCode !== 0) throw new BuildError(`The build exited with code ${r.exitCode}.`);
      const dir = OUTPUT_DIRS.find((d) => isRealFile(join(work, d, "index.html")));
      if (!dir) throw new BuildError(`The build wrote no ${OUTPUT_DIRS.join("/, ")}/ folder with an index.html.`);
      out(`[previewd] serving ${dir}/\n`);
      return readOutput(join(work, dir), this.o.maxOutputBytes, this.o.maxOutputFiles);
    } finally {
      rmSync(work, { recursive: true, force: true });
      if (plan) this.o.deps!.release(previewId);
    }
  }
}

function readPackage(files: FileMap): { scripts?: Record<string, string> } | undefined {
  const raw = files["package.json"];
  if (raw === undefined) return undefined;
  try {
    return JSON.parse(contentBytes(raw).toString("utf8"));
  } catch {
    return undefined;
  }
}

/** The app's files in a directory the build (uid 1000) may write to. */
function writeTree(root: string, files: FileMap): void {
  mkdirSync(join(root, "node_modules/.previewd-store"), { recursive: true });
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), contentBytes(content));
  }
  const own = (p: string) => {
    chownSync(p, APP_UID, APP_UID);
    if (lstatSync(p).isDirectory()) for (const e of readdirSync(p)) own(join(p, e));
  };
  if (process.getuid?.() === 0) own(root);
}

function isRealFile(p: string): boolean {
  try {
    return lstatSync(p).isFile();
  } catch {
    return false;
  }
}

function readOutput(root: string, maxBytes: number, maxFiles: number): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  let bytes = 0;
  const walk = (dir: string, prefix: string) => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      const st = lstatSync(p); // never follow a link the build made
      const rel = prefix ? `${prefix}/${name}` : name;
      if (st.isDirectory()) walk(p, rel);
      else if (st.isFile()) {
        bytes += st.size;
        if (bytes > maxBytes || out.size >= maxFiles) throw new BuildError(`The build's output is larger than the limit (${maxFiles} files, ${Math.round(maxBytes / 1048576)} MB).`);
        out.set(rel, new Uint8Array(readFileSync(p)));
      }
    }
  };
  walk(root, "");
  return out;
}

export { InstallError };
