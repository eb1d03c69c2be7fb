// The static runtime's build: the app's own `build` script, run in the
// sandbox like an install (it is a stranger's code: uid 1000, no
// capabilities, memory, CPU and time limits), with its dependencies from the
// cache, in a work directory of its own: on a disk of PREVIEWD_DISK_MB with
// /tmp beside it and a read-only container root (pool/disk.ts), so a build
// cannot write more than a preview may. What it wrote to dist/, build/ or
// out/ is read back through safefs.ts: symbolic links are never followed
// (the build made them, and they could point anywhere on this host), and an
// output folder that is itself a link fails the build.
import { createHash, randomBytes } from "node:crypto";
import { chownSync, lstatSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { type DepsCache, InstallError, type Prepared } from "../deps/index.ts";
import { nodeBinDir } from "../nodejs/index.ts";
import { contentBytes } from "../files.ts";
import { DEPS_MOUNT, IMAGE_PATH } from "../pool/docker.ts";
import type { Runtime } from "../pool/index.ts";
import { APP_UID } from "../pool/tar.ts";
import { entryKind, readTreeUnder, TreeLimitError, UnsafePathError } from "../safefs.ts";
import type { FileMap } from "../types.ts";

export class BuildError extends Error {}

export interface StaticBuilderOptions {
  runtime: Runtime;
  deps?: DepsCache;
  /** The image's identity (part of the build's source hash). */
  imageIdentity(): Promise<string>;
  /** The Node.js line and install for the files, as a container preview of them would get (deps/toolchain.ts). */
  prepare(files: FileMap): Prepared;
  /** Where build work directories go (removed after each build). */
  workRoot: string;
  /** The dependency cache's entries directory (mounted read-only, as in previews). */
  depsEntries: string;
  timeoutMs: number;
  /** The most a build's output may hold. */
  maxOutputBytes: number;
  maxOutputFiles: number;
  /**
   * Disks of PREVIEWD_DISK_MB (pool/disk.ts) for builds, as for installs: the
   * build's /app and /tmp, nothing else writable. Unset (no root or no loop
   * devices): a folder under workRoot, bounded by the build's time only.
   */
  disks?: { sizeMb: number; prepare(id: string): Promise<{ app: string; tmp: string }>; release(id: string): Promise<void> };
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
    const { plan, line } = this.o.prepare(files);
    const rand = randomBytes(4).toString("hex");
    const diskId = `build${previewId}${rand}`;
    let disk: { app: string; tmp: string } | undefined;
    let work: string | undefined;
    try {
      if (plan) {
        this.o.deps!.acquire(previewId, plan.key);
        out(`[previewd] dependencies (${plan.label})\n`);
        await this.o.deps!.ensure(plan, out, signal);
      }
      disk = this.o.disks ? await this.o.disks.prepare(diskId) : undefined;
      work = disk?.app ?? join(this.o.workRoot, `${previewId}-${rand}`);
      writeTree(work, files);
      const link = plan
        ? `for e in node_modules/.previewd-store/${plan.key}/node_modules/* node_modules/.previewd-store/${plan.key}/node_modules/.bin; do [ -e "$e" ] && ln -sfn "/app/$e" "node_modules/$(basename "$e")"; done; `
        : "";
      const run = RUN_BUILD[plan?.manager ?? "npm"]!;
      out(`[previewd] ${run}\n`);
      let tail = "";
      const r = await this.o.runtime.runJob({
        role: "build",
        cmd: ["sh", "-c", `set -e; ${link}exec ${run}`],
        workdir: "/app",
        env: { HOME: "/tmp/home", CI: "true", npm_config_update_notifier: "false", NEXT_TELEMETRY_DISABLED: "1", ...(line && { PATH: `${nodeBinDir(line.major)}:${IMAGE_PATH}` }) },
        binds: [`${work}:/app`, ...(plan ? [`${this.o.depsEntries}:${DEPS_MOUNT}:ro`] : [])],
        // With its own /tmp on the disk, the container's root is read-only (runJob).
        tmpDir: disk?.tmp,
        timeoutMs: this.o.timeoutMs,
        onOutput: (t) => {
          tail = (tail + t).slice(-8192);
          out(t);
        },
        signal,
      });
      if (r.timedOut) throw new BuildError(`The build did not finish within ${Math.round(this.o.timeoutMs / 1000)} s.`);
      if (r.oomKilled) throw new BuildError("The build ran out of memory.");
      if (r.exitCode !== 0 && disk && /ENOSPC|no space left on device/i.test(tail)) {
        throw new BuildError(`The build ran out of its disk budget (${this.o.disks!.sizeMb} MB, PREVIEWD_DISK_MB) and was stopped.`);
      }
      if (r.exitCode !== 0) throw new BuildError(`The build exited with code ${r.exitCode}.`);
      const dir = outputDir(work);
      out(`[previewd] serving ${dir}/\n`);
      return readOutput(work, dir, this.o.maxOutputBytes, this.o.maxOutputFiles, out);
    } finally {
      if (this.o.disks) await this.o.disks.release(diskId).catch((err) => out(`[previewd] could not release the build's disk: ${(err as Error).message}\n`));
      else if (work) rmSync(work, { recursive: true, force: true });
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

/** The first of dist/, build/, out/ that is a real folder with a real index.html; one that is a link or a special file fails the build. */
function outputDir(work: string): string {
  for (const d of OUTPUT_DIRS) {
    const kind = entryKind(work, d);
    if (kind === "link" || kind === "special") {
      throw new BuildError(`The build made ${d}/ ${kind === "link" ? "a symbolic link" : "a special file"}, not a folder: links a build writes are never followed, so nothing is served.`);
    }
    if (kind === "directory" && entryKind(work, `${d}/index.html`) === "file") return d;
  }
  throw new BuildError(`The build wrote no ${OUTPUT_DIRS.join("/, ")}/ folder with an index.html.`);
}

/** The output's regular files; links and special files in it are skipped (and said), never followed or opened. */
function readOutput(work: string, dir: string, maxBytes: number, maxFiles: number, out: (text: string) => void): Map<string, Uint8Array> {
  let tree;
  try {
    tree = readTreeUnder(work, dir, { maxFiles, maxBytes });
  } catch (err) {
    if (err instanceof TreeLimitError) throw new BuildError(`The build's output is larger than the limit (${maxFiles} files, ${Math.round(maxBytes / 1048576)} MB): ${err.message}.`);
    if (err instanceof UnsafePathError) throw new BuildError(`The build's output could not be read safely: ${err.message}.`);
    throw err;
  }
  const n = tree.skipped.length;
  if (n) out(`[previewd] not served: ${n} symbolic link${n === 1 ? "" : "s"} or special file${n === 1 ? "" : "s"} in ${dir}/ (${tree.skipped.slice(0, 5).map((s) => s.path).join(", ")}${n > 5 ? ", ..." : ""})\n`);
  return new Map([...tree.files].map(([p, b]) => [p, new Uint8Array(b.buffer, b.byteOffset, b.length)]));
}

export { InstallError };
