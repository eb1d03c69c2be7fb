// A disk budget per preview that holds on ext4/overlay2, where Docker has no
// per-container quota (`--storage-opt size` needs xfs with project quotas).
// Each preview gets its own ext4 filesystem in a sparse image file of
// PREVIEWD_DISK_MB, loop-mounted on the host; the container's only writable
// places are two directories of it, bind-mounted at /app and /tmp, on a
// read-only root. A write past the budget fails with ENOSPC inside the
// preview, and the host's disk can lose at most the image's size (sparse: it
// grows only as the preview writes).
//
// Layout under `root` (<dataDir>/disks):
//   <id>.img   the filesystem image (sparse)
//   <id>/      its mount point: app/ (uid 1000) and tmp/ (1777)
// Nothing else keeps state: reconcile() rebuilds the picture from the
// directory and /proc/self/mountinfo (after a crash or a reboot).
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, closeSync, existsSync, ftruncateSync, lchownSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statfsSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Logger } from "../log.ts";
import { APP_UID } from "./tar.ts";

export interface PreviewDisksOptions {
  /** Directory of the images and mount points (made if missing). */
  root: string;
  /** The budget: the filesystem's size. */
  sizeMb: number;
  log: Logger;
}

/** Host paths to bind-mount into the container. */
export interface DiskPaths {
  app: string;
  tmp: string;
}

/** Where the dependency cache is mounted, relative to the app root (see docker.ts DEPS_MOUNT). */
const STORE_MOUNTPOINT = "node_modules/.previewd-store";

export class PreviewDisks {
  readonly root: string;

  constructor(private readonly o: PreviewDisksOptions) {
    this.root = resolve(o.root);
  }

  /** The budget each disk holds. */
  get sizeMb(): number {
    return this.o.sizeMb;
  }

  /**
   * A fresh, empty disk for `id`, mounted. A disk left from an earlier
   * container of the same preview (recreated from its stored files) is
   * released first: the new container gets its files again.
   */
  async prepare(id: string, opts: { storeMount?: boolean } = {}): Promise<DiskPaths> {
    checkId(id);
    const img = this.image(id);
    const mnt = this.mountPoint(id);
    await this.release(id);
    mkdirSync(this.root, { recursive: true, mode: 0o711 });
    const fd = openSync(img, "w", 0o600);
    try {
      ftruncateSync(fd, this.o.sizeMb * 1024 * 1024);
    } finally {
      closeSync(fd);
    }
    try {
      // -m 0: no blocks reserved for root (the app gets the whole budget);
      // -i 8192: twice the default inodes (node_modules trees are many small files);
      // lazy init: mkfs writes ~1 MB, not the inode tables and journal in full.
      await run("mkfs.ext4", ["-q", "-F", "-m", "0", "-i", "8192", "-E", "lazy_itable_init=1,lazy_journal_init=1,nodiscard,root_owner=0:0", img]);
      mkdirSync(mnt, { recursive: true, mode: 0o700 });
      await this.mount(id);
      const app = join(mnt, "app");
      const tmp = join(mnt, "tmp");
      // A dependency install's disk (deps/cache.ts) gets no mount point: its node_modules is the install's own.
      if (opts.storeMount !== false) mkdirSync(join(app, STORE_MOUNTPOINT), { recursive: true });
      else mkdirSync(join(app, "node_modules"), { recursive: true });
      // The app's user owns its root and node_modules (the runner links packages there); the
      // store's mount point stays root's. /tmp is sticky and world-writable, as everywhere.
      // A fresh filesystem made just now, so nothing a preview wrote is here; lchown all the same
      // (never follows a link), as every host-side touch of a preview's tree must.
      lchownSync(app, APP_UID, APP_UID);
      lchownSync(join(app, "node_modules"), APP_UID, APP_UID);
      mkdirSync(tmp);
      chmodSync(tmp, 0o1777);
      return { app, tmp };
    } catch (err) {
      await this.release(id).catch(() => {});
      throw new Error(`could not make the preview's ${this.o.sizeMb} MB disk (loop-mounted ext4; the daemon must run as root): ${(err as Error).message}`);
    }
  }

  /** Mounts an existing disk again (after a reboot); false when there is none. */
  async ensure(id: string): Promise<boolean> {
    checkId(id);
    if (!existsSync(this.image(id))) return false;
    if (!this.isMounted(id)) {
      mkdirSync(this.mountPoint(id), { recursive: true, mode: 0o700 });
      await this.mount(id);
      this.o.log.info({ id }, "mounted a preview's disk again");
    }
    return true;
  }

  /** Unmounts and deletes a preview's disk (its container must be gone). Idempotent. */
  /**
   * Whether this host can make preview disks (root, loop devices, mkfs.ext4):
   * undefined when it can, else why not. The daemon runs without the budget
   * then, and says so, rather than fail every create.
   */
  async probe(): Promise<string | undefined> {
    const id = `probe${Date.now().toString(36)}`;
    try {
      await this.prepare(id);
      return undefined;
    } catch (e) {
      return (e as Error).message;
    } finally {
      await this.release(id).catch(() => {});
    }
  }

  async release(id: string): Promise<void> {
    checkId(id);
    const mnt = this.mountPoint(id);
    if (this.isMounted(id)) {
      // A lazy unmount if something still holds it: the loop device (autoclear) goes with the last user.
      // (umount also writes the filesystem's dirty pages back: async, it can take a while.)
      if (!(await run("umount", [mnt]).then(() => true, () => false))) await run("umount", ["-l", mnt]);
    }
    rmSync(this.image(id), { force: true });
    try {
      rmSync(mnt, { recursive: true, force: true });
    } catch (err) {
      this.o.log.warn({ err, id }, "could not remove a preview disk's mount point");
    }
  }

  /**
   * After a start (crash, reboot): disks of previews in `keep` are mounted,
   * every other disk under root is released, and loop devices whose image
   * was deleted under them are detached.
   */
  async reconcile(keep: Set<string>): Promise<{ kept: string[]; released: string[] }> {
    const kept: string[] = [];
    const released: string[] = [];
    if (existsSync(this.root)) {
      const ids = new Set(readdirSync(this.root).map((n) => n.replace(/\.img$/, "")).filter(isId));
      for (const id of ids) {
        if (keep.has(id) && (await this.ensure(id))) kept.push(id);
        else {
          await this.release(id);
          released.push(id);
        }
      }
    }
    this.detachOrphanLoops();
    if (released.length) this.o.log.info({ released }, "released preview disks with no container");
    return { kept, released };
  }

  /** Bytes used and the size of a preview's filesystem (df's view). */
  usage(id: string): { usedBytes: number; sizeBytes: number } | undefined {
    if (!this.isMounted(id)) return undefined;
    const s = statfsSync(this.mountPoint(id));
    return { usedBytes: (s.blocks - s.bfree) * s.bsize, sizeBytes: s.blocks * s.bsize };
  }

  image(id: string): string {
    return join(this.root, `${id}.img`);
  }

  mountPoint(id: string): string {
    return join(this.root, id);
  }

  /**
   * Previews whose disk is mounted read-only: ext4 shuts itself down when a
   * write to its sparse image cannot be stored (the host's disk was full), and
   * stays so until it is made again. Nothing else mounts these read-only.
   */
  readOnly(): Set<string> {
    const out = new Set<string>();
    for (const [point, m] of mounts()) {
      if (m.readOnly && point.startsWith(this.root + "/")) out.add(point.slice(this.root.length + 1));
    }
    return out;
  }

  isMounted(id: string): boolean {
    return mountPoints().has(this.mountPoint(id));
  }

  private mount(id: string): Promise<void> {
    // nosuid, nodev: nothing the app writes can become a setuid binary or a device node.
    return run("mount", ["-t", "ext4", "-o", "loop,nosuid,nodev,noatime", this.image(id), this.mountPoint(id)]);
  }

  private detachOrphanLoops(): void {
    const r = spawnSync("losetup", ["--list", "--noheadings", "--output", "NAME,BACK-FILE"], { encoding: "utf8" });
    for (const line of (r.stdout ?? "").split("\n")) {
      const m = /^(\S+)\s+(.*)$/.exec(line.trim());
      if (!m || !m[2]!.startsWith(this.root + "/")) continue;
      const file = m[2]!.replace(/ \(deleted\)$/, "");
      const id = file.slice(this.root.length + 1).replace(/\.img$/, "");
      if (file !== m[2] || !this.isMounted(id)) spawnSync("losetup", ["-d", m[1]!]);
    }
  }
}

/**
 * Unmounts every preview disk under `root` and deletes them: for a data
 * directory about to be removed (tests), where `rm -rf` would otherwise
 * descend into mounted filesystems and leave their loop devices behind.
 */
export async function releaseAllDisks(root: string, log: Logger): Promise<void> {
  await new PreviewDisks({ root, sizeMb: 1, log }).reconcile(new Set());
}

const isId = (s: string) => /^[a-z0-9]{1,64}$/.test(s);

function checkId(id: string): void {
  if (!isId(id)) throw new Error(`not a preview id: ${JSON.stringify(id)}`);
}

/**
 * Mount points of this mount namespace (mountinfo's 5th field, octal escapes
 * undone), each with whether it is read-only: its mount's options (6th field)
 * say "ro", or its filesystem's (the last field) say "ro" or "emergency_ro"
 * (ext4 shut down after an error: Linux 6.x shows this, not "ro").
 */
function mounts(): Map<string, { readOnly: boolean }> {
  const out = new Map<string, { readOnly: boolean }>();
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    const fields = line.split(" ");
    const point = fields[4];
    if (!point) continue;
    const superOptions = (fields[fields.length - 1] ?? "").split(",");
    const readOnly = !!fields[5]?.split(",").includes("ro") || superOptions.includes("ro") || superOptions.includes("emergency_ro");
    out.set(point.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))), { readOnly });
  }
  return out;
}

const mountPoints = (): Set<string> => new Set(mounts().keys());

/** Runs a command without blocking the event loop (umount may flush a gigabyte); throws with its output on failure. */
function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (c: Buffer) => (output += c));
    child.stderr.on("data", (c: Buffer) => (output += c));
    child.on("error", (e) => reject(new Error(`${cmd}: ${e.message}`)));
    child.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(" ")} exited with ${code}: ${output.trim()}`))));
  });
}
