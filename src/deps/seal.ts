// What an install leaves is checked before it becomes a cache entry: the
// tree was made by a stranger's postinstall, and an entry is shared (every
// preview with the same lockfile mounts it) and read by the daemon on the
// host (the lockfile npm wrote).
//
// - A symbolic link that leaves the entry (an absolute target, or a relative
//   one that resolves above the entry's root, through other links too) is
//   removed: inside a preview it would reach the preview's own files at best,
//   and on the host anything. Links that stay inside (node_modules/.bin,
//   pnpm's store layout) are kept.
// - A FIFO, socket or device node fails the install: no package manager
//   makes one, and a FIFO in an entry shared read-only by many previews
//   would still be a channel between them (a FIFO on a read-only mount can be
//   opened for writing).
// - Set-user-ID and set-group-ID bits are cleared: the files belong to uid
//   1000, on many hosts a real login (Debian's first user), and the entries
//   are on the host's disk, readable by every local user.
// - Hard links are no way out: link(2) cannot cross a mount, even a bind
//   mount of the same filesystem (EXDEV), and the install sees only its own
//   disk (or staging directory) and read-only mounts. So a hard link in the
//   tree names a file the install made itself, and `cp -a` copies it as such.
//
// The walk is by path with lstat: nothing runs in the tree any more (the
// install's container is gone before sealing), so nothing can swap an entry
// between the check and the removal.
import { chmodSync, lstatSync, readdirSync, readlinkSync, type Stats, unlinkSync } from "node:fs";
import { join } from "node:path";

export class SealError extends Error {}

export interface SealReport {
  /** Links removed, "path -> target", relative to the entry's root. */
  removedLinks: string[];
  /** Files whose set-user-ID or set-group-ID bit was cleared. */
  clearedSetId: string[];
}

/** Links resolved in a row before one is taken for a loop (Linux's own limit). */
const MAX_HOPS = 40;

/**
 * Whether `target`, a link's content, found from the directory `from`
 * (components under the root), stays under the root when the kernel resolves
 * it: every component that is itself a link is expanded where it stands, so a
 * `..` after it climbs from where that link leads, not from its name. A
 * component that does not exist is taken as written (nothing can follow it).
 */
export function staysInside(root: string, from: string[], target: string, hops = 0): boolean {
  if (hops > MAX_HOPS || target.startsWith("/")) return false;
  const stack = [...from];
  const parts = target.split("/");
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    if (p === "" || p === ".") continue;
    if (p === "..") {
      if (stack.length === 0) return false;
      stack.pop();
      continue;
    }
    stack.push(p);
    let st: Stats;
    try {
      st = lstatSync(join(root, ...stack)); // every earlier component is a real directory: nothing is followed
    } catch {
      continue;
    }
    if (st.isSymbolicLink()) {
      stack.pop();
      return staysInside(root, stack, [readlinkSync(join(root, ...stack, p)), ...parts.slice(i + 1)].join("/"), hops + 1);
    }
  }
  return true;
}

function specialKind(st: Stats): string {
  if (st.isFIFO()) return "a FIFO";
  if (st.isSocket()) return "a socket";
  return "a device node";
}

/** Checks an install's finished tree in place (see the top of this file); throws SealError on a special file. */
export function sealTree(root: string): SealReport {
  const report: SealReport = { removedLinks: [], clearedSetId: [] };
  const walk = (dir: string[]) => {
    for (const name of readdirSync(join(root, ...dir))) {
      const rel = [...dir, name];
      const abs = join(root, ...rel);
      const st = lstatSync(abs);
      if (st.isDirectory()) walk(rel);
      else if (st.isSymbolicLink()) {
        const target = readlinkSync(abs);
        if (!staysInside(root, dir, target)) {
          unlinkSync(abs);
          report.removedLinks.push(`${rel.join("/")} -> ${target}`);
        }
      } else if (st.isFile()) {
        if (st.mode & 0o6000) {
          chmodSync(abs, st.mode & 0o1777);
          report.clearedSetId.push(rel.join("/"));
        }
      } else {
        throw new SealError(`The install left ${specialKind(st)} at ${rel.join("/")}; special files are not kept in the dependency cache.`);
      }
    }
  };
  walk([]);
  return report;
}
