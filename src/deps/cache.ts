// The content-addressed dependency cache, on the host's disk:
//
//   <root>/entries/<key>/node_modules   sealed installs; mounted read-only at
//                                        /app/node_modules/.previewd-store in
//                                        every preview container
//   <root>/staging/<key>.<rand>/         an install in progress (its own mount)
//   <root>/meta/<key>.json               size and last use, outside the mount
//
// An entry appears only by renaming a finished, successful install into
// entries/ (atomic on one filesystem), so no preview ever sees half an
// install; it never changes afterwards (previews see it through a read-only
// bind mount). One install per key at a time: later callers wait for the
// first and see its output. Past the size cap, the least recently used
// entries that no preview uses are removed.
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statfsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { contentBytes } from "../files.ts";
import type { Logger } from "../log.ts";
import { readFileUnder, UnsafePathError } from "../safefs.ts";
import { OutputLog } from "./output.ts";
import type { InstallPlan } from "./plan.ts";
import { SealError, sealTree } from "./seal.ts";

/** Runs one install in the sandbox (the Docker adapter runs a confined container). */
export interface Installer {
  /** `tmpDir`: the job's /tmp on its disk budget (then nothing else of the container is writable). */
  run(job: { plan: InstallPlan; hostDir: string; tmpDir?: string; onOutput: (text: string) => void; signal: AbortSignal }): Promise<InstallOutcome>;
}

export interface InstallOutcome {
  exitCode: number;
  oomKilled: boolean;
  timedOut: boolean;
}

export class InstallError extends Error {
  constructor(message: string, readonly lastLines: string) {
    super(lastLines ? `${message} Last lines:\n${lastLines}` : message);
  }
}

const STALE_STAGING_MS = 3600_000;
/** The most of a lockfile npm wrote that is given back to the app (real ones are a few MB). */
const WRITTEN_LOCKFILE_MAX_BYTES = 32 * 1024 * 1024;

interface EntryMeta {
  key: string;
  manager: string;
  bytes: number;
  createdAt: string;
  lastUsedAt: number;
}

interface InFlight {
  done: Promise<void>;
  output: OutputLog;
  waiters: number;
  abort: AbortController;
}

export interface DepsCacheOptions {
  root: string;
  /** Size cap in bytes (entries in use are never evicted, so the cap can be passed for a while). */
  capBytes: number;
  installer: Installer;
  log: Logger;
  /**
   * Disks of a fixed size (PREVIEWD_DISK_MB, pool/disk.ts) for installs: a
   * postinstall script is a stranger's code too, and without them its writes
   * (and npm's cache in /tmp) land on the host's disk unbounded.
   */
  disks?: { sizeMb: number; prepare(id: string, opts: { storeMount: false }): Promise<{ app: string; tmp: string }>; release(id: string): Promise<void> };
}

export interface EnsureResult {
  /** True when the entry was already there (no install ran for this caller). */
  hit: boolean;
  /** The lockfile the install wrote (npm install without one), to give back to the app. */
  writtenLockfile?: string;
}

export class DepsCache {
  readonly entriesDir: string;
  private readonly stagingDir: string;
  private readonly metaDir: string;
  private readonly entries = new Map<string, EntryMeta>();
  private readonly inflight = new Map<string, InFlight>();
  /** previewId -> key it uses: those entries are never evicted. */
  private readonly users = new Map<string, string>();
  readonly counters = { installs: 0, failures: 0, hits: 0, evictions: 0 };

  constructor(private readonly o: DepsCacheOptions) {
    this.entriesDir = join(o.root, "entries");
    this.stagingDir = join(o.root, "staging");
    this.metaDir = join(o.root, "meta");
  }

  /** Creates the layout and loads what a previous run left (the cache survives restarts). */
  init(): void {
    for (const d of [this.entriesDir, this.stagingDir, this.metaDir]) mkdirSync(d, { recursive: true });
    // Listable: Turbopack (Next.js) reads and watches every directory on a
    // package's real path. So previews on a node can read each other's
    // installed packages; see README ("Known limits") for private registries.
    chmodSync(this.entriesDir, 0o755);
    // An install that was running when a daemon died is not an entry. By age:
    // another daemon sharing this disk may be installing right now.
    for (const name of readdirSync(this.stagingDir)) {
      const p = join(this.stagingDir, name);
      if (Date.now() - lstatSync(p).mtimeMs > STALE_STAGING_MS) rmSync(p, { recursive: true, force: true });
    }
    for (const key of readdirSync(this.entriesDir)) this.load(key);
  }

  private load(key: string): EntryMeta {
    const meta = this.readMeta(key) ?? this.writeMeta({ key, manager: "unknown", bytes: diskUsage(join(this.entriesDir, key)), createdAt: new Date().toISOString(), lastUsedAt: Date.now() });
    this.entries.set(key, meta);
    return meta;
  }

  get bytes(): number {
    let n = 0;
    for (const e of this.entries.values()) n += e.bytes;
    return n;
  }

  get size(): number {
    return this.entries.size;
  }

  /** True when the entry is sealed (by this daemon, or by another one sharing the disk). */
  has(key: string): boolean {
    if (this.entries.has(key)) return true;
    if (!/^[0-9a-f]{40}$/.test(key) || !existsSync(join(this.entriesDir, key))) return false;
    this.load(key);
    return true;
  }

  /** Marks an entry used by a preview (and touches its LRU time). */
  acquire(previewId: string, key: string): void {
    this.users.set(previewId, key);
    const e = this.entries.get(key);
    if (e) {
      e.lastUsedAt = Date.now();
      this.writeMeta(e);
    }
  }

  release(previewId: string): void {
    this.users.delete(previewId);
  }

  /**
   * Makes sure the entry for `plan` exists: at once when cached, else by one
   * install shared with every concurrent caller of the same key. `onOutput`
   * gets the install's output live; `signal` withdraws this caller (the
   * install is cancelled when no caller is left).
   */
  async ensure(plan: InstallPlan, onOutput: (text: string) => void, signal?: AbortSignal): Promise<EnsureResult> {
    if (this.has(plan.key)) {
      this.counters.hits++;
      return { hit: true };
    }
    let job = this.inflight.get(plan.key);
    const first = !job;
    if (!job) job = this.startInstall(plan);
    job.waiters++;
    const unsubscribe = job.output.subscribe(onOutput);
    const withdraw = () => {
      if (--job.waiters === 0) job.abort.abort();
    };
    signal?.addEventListener("abort", withdraw, { once: true });
    try {
      await job.done;
    } finally {
      unsubscribe();
      signal?.removeEventListener("abort", withdraw);
      if (!signal?.aborted) job.waiters--;
    }
    if (!first) this.counters.hits++;
    return { hit: !first, writtenLockfile: plan.lockfile ? undefined : this.readWrittenLockfile(plan.key, onOutput) };
  }

  private startInstall(plan: InstallPlan): InFlight {
    const abort = new AbortController();
    const output = new OutputLog();
    const job: InFlight = { output, waiters: 0, abort, done: Promise.resolve() };
    job.done = this.install(plan, output, abort.signal).finally(() => this.inflight.delete(plan.key));
    this.inflight.set(plan.key, job);
    return job;
  }

  private async install(plan: InstallPlan, output: OutputLog, signal: AbortSignal): Promise<void> {
    const rand = randomBytes(4).toString("hex");
    const staging = join(this.stagingDir, `${plan.key}.${rand}`);
    // On a disk budget, the install runs on a disk of its own and is copied into staging once it succeeded
    // (staging must share the entries' filesystem: an entry is sealed by one rename).
    const diskId = `install${plan.key.slice(0, 16)}${rand}`;
    const disk = this.o.disks ? await this.o.disks.prepare(diskId, { storeMount: false }) : undefined;
    const workDir = disk?.app ?? staging;
    if (!disk) {
      mkdirSync(staging);
      chmodSync(staging, 0o777); // the sandbox user (uid 1000) installs into it
    }
    for (const [name, content] of Object.entries(plan.inputs)) writeFileSync(join(workDir, name), contentBytes(content));
    const started = Date.now();
    output.write(`[previewd] installing dependencies (${plan.label})\n`);
    try {
      const r = await this.o.installer.run({ plan, hostDir: workDir, tmpDir: disk?.tmp, onOutput: (t) => output.write(t), signal });
      if (signal.aborted) throw new InstallError("The install was cancelled (no preview waits for it any more).", "");
      if (r.timedOut) throw new InstallError(`The dependency install (${plan.label}) did not finish in time and was stopped.`, output.tail(20));
      if (r.oomKilled) throw new InstallError(`The dependency install (${plan.label}) ran out of memory and was killed.`, output.tail(20));
      if (r.exitCode !== 0 && disk && /ENOSPC|no space left on device/i.test(output.tail(40))) {
        throw new InstallError(`The dependency install (${plan.label}) ran out of its disk budget (${this.o.disks!.sizeMb} MB, PREVIEWD_DISK_MB) and was stopped.`, output.errorExcerpt(25));
      }
      if (r.exitCode !== 0) throw new InstallError(`The dependency install (${plan.command.slice(0, 2).join(" ")}) failed with exit code ${r.exitCode}.`, output.errorExcerpt(25));
      if (disk) await copyTree(disk.app, staging);
      this.seal(staging, output);
      this.publish(plan, staging);
      this.counters.installs++;
      output.write(`[previewd] dependencies installed in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
      this.o.log.info({ key: plan.key, label: plan.label, ms: Date.now() - started }, "dependencies installed");
    } catch (err) {
      this.counters.failures++;
      throw err;
    } finally {
      rmSync(staging, { recursive: true, force: true });
      if (disk) await this.o.disks!.release(diskId).catch((err) => this.o.log.warn({ err, diskId }, "could not release an install's disk"));
    }
    this.evict();
  }

  /** Seals a finished install as an entry, with one rename. */
  private publish(plan: InstallPlan, staging: string): void {
    mkdirSync(join(staging, "node_modules"), { recursive: true }); // an app with no dependencies after all
    chmodSync(staging, 0o755);
    const entry = join(this.entriesDir, plan.key);
    if (existsSync(entry)) {
      this.load(plan.key); // another daemon on this disk sealed the same key first
      return;
    }
    renameSync(staging, entry);
    // Sized after the rename, off the waiting previews' path (a walk of a big tree takes a fraction of a second).
    const meta: EntryMeta = { key: plan.key, manager: plan.manager, bytes: 0, createdAt: new Date().toISOString(), lastUsedAt: Date.now() };
    this.entries.set(plan.key, meta);
    setTimeout(() => {
      if (this.entries.get(plan.key) !== meta) return;
      meta.bytes = diskUsage(entry);
      this.writeMeta(meta);
      this.evict();
    }, 0);
  }

  /** Links that leave the install are removed (and said in its output), special files fail it (seal.ts). */
  private seal(staging: string, output: OutputLog): void {
    let report;
    try {
      report = sealTree(staging);
    } catch (err) {
      if (err instanceof SealError) throw new InstallError(err.message, output.tail(10));
      throw err;
    }
    if (report.clearedSetId.length) this.o.log.warn({ files: report.clearedSetId.slice(0, 20), count: report.clearedSetId.length }, "cleared set-user-ID bits in an install");
    const n = report.removedLinks.length;
    if (n === 0) return;
    const shown = report.removedLinks.slice(0, 5).join(", ");
    output.write(`[previewd] removed ${n} symbolic link${n === 1 ? "" : "s"} pointing outside the install (${shown}${n > 5 ? ", ..." : ""})\n`);
    this.o.log.warn({ links: report.removedLinks.slice(0, 20), count: n }, "removed links leaving an install");
  }

  /**
   * The package-lock.json the install wrote, read as a stranger's file: a
   * link, a FIFO or a huge file is not the app's lockfile (the daemon is root;
   * following a link here handed any host file to the app). Missing: undefined.
   */
  private readWrittenLockfile(key: string, onOutput: (text: string) => void): string | undefined {
    try {
      return readFileUnder(join(this.entriesDir, key), "package-lock.json", WRITTEN_LOCKFILE_MAX_BYTES).toString("utf8");
    } catch (err) {
      if (!(err instanceof UnsafePathError)) throw err;
      if (err.reason === "missing") return undefined;
      onOutput(`[previewd] the package-lock.json the install wrote is not kept as the app's lockfile: ${err.message}\n`);
      this.o.log.warn({ key, reason: err.reason }, "ignored the lockfile an install wrote");
      return undefined;
    }
  }

  /** Removes least recently used entries no preview uses until the cache fits its cap. */
  evict(): void {
    let total = this.bytes;
    if (total <= this.o.capBytes) return;
    const inUse = new Set(this.users.values());
    const candidates = [...this.entries.values()].filter((e) => !inUse.has(e.key) && !this.inflight.has(e.key)).sort((a, b) => a.lastUsedAt - b.lastUsedAt);
    for (const e of candidates) {
      if (total <= this.o.capBytes) break;
      this.entries.delete(e.key);
      // Renamed out first: a lookup never finds a half-deleted entry.
      const doomed = join(this.stagingDir, `evicted-${e.key}.${randomBytes(4).toString("hex")}`);
      renameSync(join(this.entriesDir, e.key), doomed);
      rmSync(doomed, { recursive: true, force: true });
      rmSync(join(this.metaDir, `${e.key}.json`), { force: true });
      total -= e.bytes;
      this.counters.evictions++;
      this.o.log.info({ key: e.key, bytes: e.bytes }, "evicted a dependency cache entry");
    }
  }

  private readMeta(key: string): EntryMeta | undefined {
    try {
      return JSON.parse(readFileSync(join(this.metaDir, `${key}.json`), "utf8")) as EntryMeta;
    } catch {
      return undefined;
    }
  }

  private writeMeta(meta: EntryMeta): EntryMeta {
    writeFileSync(join(this.metaDir, `${meta.key}.json`), JSON.stringify(meta));
    return meta;
  }
}

/** Bytes on disk under a directory (hard links counted once, symlinks not followed). */
export function diskUsage(dir: string): number {
  const seen = new Set<number>();
  let bytes = 0;
  const walk = (d: string) => {
    let names: string[];
    try {
      names = readdirSync(d);
    } catch {
      return;
    }
    for (const name of names) {
      const p = join(d, name);
      const st = lstatSync(p);
      if (seen.has(st.ino)) continue;
      seen.add(st.ino);
      bytes += st.blocks * 512;
      if (st.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return bytes;
}

/** A default cap: a tenth of the disk that holds the cache, at least 2 GiB. */
export function defaultCapBytes(root: string): number {
  mkdirSync(root, { recursive: true });
  const fs = statfsSync(root);
  return Math.max(2 * 1024 ** 3, Math.floor((fs.blocks * fs.bsize) / 10));
}

/** Copies an install's tree (symlinks, modes and owners kept) from its disk into staging. */
async function copyTree(from: string, to: string): Promise<void> {
  const p = Bun.spawn(["cp", "-a", "--", `${from}/.`, to], { stdout: "ignore", stderr: "pipe" });
  const err = await new Response(p.stderr).text();
  if ((await p.exited) !== 0) throw new InstallError(`Could not copy the finished install out of its disk: ${err.trim()}`, "");
}
