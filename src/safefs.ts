// Host-side reads of trees a stranger's code could have shaped: what an
// install or a build left on the host (the dependency cache's entries, a
// build's output), anything on a preview's disk. The daemon runs as root, so
// a plain readFileSync of such a path would follow a link the app planted
// (package-lock.json -> /proc/self/environ, dist -> /etc) and hand back any
// file on this host; opening a FIFO would hang the daemon.
//
// Every read here walks the path one component at a time from a directory
// descriptor, as openat(2) would: each directory is opened through
// /proc/self/fd/<parent>/<name> with O_NOFOLLOW|O_DIRECTORY, so a link
// anywhere on the path is refused, not followed, and a directory swapped for
// a link between two steps cannot send the walk elsewhere (the parent is a
// descriptor, not a path looked up again). Each directory's real path is
// checked to be under the root. The file is opened O_NOFOLLOW|O_NONBLOCK
// (a FIFO cannot block the open), fstat'ed on the descriptor (regular files
// only; what was checked is what is read) and read up to a cap. A device
// node is refused by lstat before any open; one swapped in after that lstat
// would be opened, but nothing that writes these trees can make one
// (previews, installs and builds have no CAP_MKNOD; their disks are nodev).
//
// `root` itself is the caller's (a directory the daemon made): it may sit
// behind the operator's own links (PREVIEWD_DATA_DIR on a symlinked disk).
import { closeSync, constants, fstatSync, lstatSync, opendirSync, openSync, readlinkSync, readSync, type Stats } from "node:fs";

/** Why a path was refused; `path` is relative to the root. */
export type RefusedReason = "link" | "special" | "not-directory" | "outside" | "missing" | "too-large";

export class UnsafePathError extends Error {
  constructor(
    readonly path: string,
    readonly reason: RefusedReason,
    message: string,
  ) {
    super(message);
  }
}

const DIR_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;
const FILE_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY;
/** Deeper than any real project; bounds the descriptors one walk holds. */
const MAX_DEPTH = 128;

const at = (dirFd: number, name: string) => `/proc/self/fd/${dirFd}/${name}`;

/**
 * Called between the lstat of a component and its open: tests swap the
 * entry there to make the race that O_NOFOLLOW and fstat close
 * deterministic. Unset in the daemon.
 */
export const raceHook: { betweenCheckAndOpen?: (rel: string) => void } = {};

/** What a path's last component is, by lstat: never opened, never followed. */
function kindOf(st: Stats): "file" | "directory" | "link" | "special" {
  if (st.isSymbolicLink()) return "link";
  if (st.isDirectory()) return "directory";
  if (st.isFile()) return "file";
  return "special"; // FIFO, socket, character or block device
}

function describe(kind: "link" | "special" | "directory" | "file", st?: Stats): string {
  if (kind === "link") return "a symbolic link";
  if (kind === "directory") return "a directory";
  if (kind === "file") return "a regular file";
  if (st?.isFIFO()) return "a FIFO";
  if (st?.isSocket()) return "a socket";
  return "a device node";
}

/** Splits a relative POSIX path into names; "", ".", ".." and absolute paths are programming errors here. */
function components(rel: string): string[] {
  if (rel === "" || rel === ".") return [];
  const parts = rel.split("/");
  if (rel.startsWith("/") || parts.some((p) => p === "" || p === "." || p === ".." || p.includes("\0"))) throw new Error(`not a plain relative path: ${JSON.stringify(rel)}`);
  return parts;
}

interface Root {
  fd: number;
  /** Its real path. */
  real: string;
  /** Its filesystem: a walk never crosses into another one (a mount inside the tree), as `find -xdev`. */
  dev: number;
}

/** The root, opened (the caller's directory: links to it are the operator's), with its real path and filesystem. */
function openRoot(root: string): Root {
  const fd = openSync(root, constants.O_RDONLY | constants.O_DIRECTORY);
  return { fd, real: readlinkSync(`/proc/self/fd/${fd}`), dev: fstatSync(fd).dev };
}

/**
 * An open directory must be on the root's filesystem and its real path the
 * root or under it. With every component opened O_NOFOLLOW and no "..", the
 * path check is a backstop; the filesystem check refuses a mount inside the
 * tree (its path looks like the tree's own: the kernel names a mounted
 * directory by where it is mounted).
 */
function checkUnder(fd: number, root: Root, rel: string): void {
  const real = readlinkSync(`/proc/self/fd/${fd}`);
  if (real !== root.real && !real.startsWith(root.real === "/" ? "/" : `${root.real}/`)) {
    throw new UnsafePathError(rel, "outside", `${rel} resolves outside its tree (${real}); refused`);
  }
  if (fstatSync(fd).dev !== root.dev) throw new UnsafePathError(rel, "outside", `${rel} is another filesystem mounted inside the tree; refused`);
}

/** lstat of `name` in an open directory, undefined when it does not exist. */
function lstatAt(dirFd: number, name: string): Stats | undefined {
  try {
    return lstatSync(at(dirFd, name));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
}

/** Opens a directory entry of `dirFd` as a directory: no link followed, real path under the root. */
function openChildDir(dirFd: number, name: string, root: Root, rel: string): number {
  const st = lstatAt(dirFd, name);
  if (!st) throw new UnsafePathError(rel, "missing", `${rel} does not exist`);
  const kind = kindOf(st);
  if (kind !== "directory") throw new UnsafePathError(rel, kind === "file" ? "not-directory" : kind, `${rel} is ${describe(kind, st)}, not a directory; refused`);
  raceHook.betweenCheckAndOpen?.(rel);
  let fd: number;
  try {
    fd = openSync(at(dirFd, name), DIR_FLAGS);
  } catch (e) {
    // ELOOP/ENOTDIR: it became a link or something else after the lstat (a race): refused all the same.
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ELOOP" || code === "ENOTDIR") throw new UnsafePathError(rel, "link", `${rel} changed into a link or a non-directory while being read; refused`);
    if (code === "ENOENT") throw new UnsafePathError(rel, "missing", `${rel} does not exist`);
    throw e;
  }
  try {
    checkUnder(fd, root, rel);
  } catch (e) {
    closeSync(fd);
    throw e;
  }
  return fd;
}

/** Walks root/<dirs...> and returns the last directory's descriptor (the caller closes it). */
function openDirUnder(root: Root, names: string[]): number {
  let fd = root.fd;
  const done: string[] = [];
  try {
    for (const name of names) {
      done.push(name);
      const next = openChildDir(fd, name, root, done.join("/"));
      if (fd !== root.fd) closeSync(fd);
      fd = next;
    }
    return fd;
  } catch (e) {
    if (fd !== root.fd) closeSync(fd);
    throw e;
  }
}

/** Reads an open regular file up to `maxBytes` (one byte more is asked for, to see a file that grew past its fstat). */
function readCapped(fd: number, size: number, maxBytes: number, rel: string): Buffer {
  const tooLarge = () => new UnsafePathError(rel, "too-large", `${rel} is larger than the limit of ${maxBytes} bytes`);
  if (size > maxBytes) throw tooLarge();
  const chunks: Buffer[] = [];
  let n = 0;
  for (;;) {
    const buf = Buffer.allocUnsafe(Math.min(maxBytes + 1 - n, Math.max(size + 1 - n, 64 * 1024)));
    const r = readSync(fd, buf, 0, buf.length, null);
    if (r === 0) break;
    n += r;
    if (n > maxBytes) throw tooLarge();
    chunks.push(r === buf.length ? buf : buf.subarray(0, r));
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, n);
}

/** Opens `name` in `dirFd` as a regular file (never a link, FIFO, socket or device) and reads it. */
function readChildFile(dirFd: number, name: string, rel: string, maxBytes: number): Buffer {
  const st = lstatAt(dirFd, name);
  if (!st) throw new UnsafePathError(rel, "missing", `${rel} does not exist`);
  const kind = kindOf(st);
  // Refused before any open: opening a device can have effects of its own.
  if (kind !== "file") throw new UnsafePathError(rel, kind === "directory" ? "not-directory" : kind, `${rel} is ${describe(kind, st)}, not a regular file; refused`);
  raceHook.betweenCheckAndOpen?.(rel);
  let fd: number;
  try {
    fd = openSync(at(dirFd, name), FILE_FLAGS);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ELOOP") throw new UnsafePathError(rel, "link", `${rel} became a symbolic link while being read; refused`);
    if (code === "ENOENT") throw new UnsafePathError(rel, "missing", `${rel} does not exist`);
    throw e;
  }
  try {
    const fst = fstatSync(fd);
    // What is read is what the descriptor is, whatever the name pointed at a moment ago.
    if (!fst.isFile()) throw new UnsafePathError(rel, "special", `${rel} became ${describe(kindOf(fst), fst)} while being read; refused`);
    return readCapped(fd, fst.size, maxBytes, rel);
  } finally {
    closeSync(fd);
  }
}

/**
 * The bytes of `root/rel`, a regular file reached through real directories
 * only. Throws UnsafePathError (reason "missing" when any part of the path
 * does not exist).
 */
export function readFileUnder(root: string, rel: string, maxBytes: number): Buffer {
  const names = components(rel);
  const file = names.pop();
  if (file === undefined) throw new Error("readFileUnder needs a file name");
  const r = openRoot(root);
  try {
    const dir = openDirUnder(r, names);
    try {
      return readChildFile(dir, file, rel, maxBytes);
    } finally {
      if (dir !== r.fd) closeSync(dir);
    }
  } finally {
    closeSync(r.fd);
  }
}

/**
 * What `root/rel` is, by lstat, without following a link on the way or at
 * the end. A link or special file on the way makes the path "link" or
 * "special" (it cannot be reached without following it); "missing" when
 * some part does not exist or is a regular file.
 */
export function entryKind(root: string, rel: string): "file" | "directory" | "link" | "special" | "missing" {
  const names = components(rel);
  const last = names.pop();
  if (last === undefined) return "directory";
  const r = openRoot(root);
  try {
    let dir: number;
    try {
      dir = openDirUnder(r, names);
    } catch (e) {
      if (!(e instanceof UnsafePathError)) throw e;
      if (e.reason === "special") return "special";
      return e.reason === "link" || e.reason === "outside" ? "link" : "missing";
    }
    try {
      const st = lstatAt(dir, last);
      return st ? kindOf(st) : "missing";
    } finally {
      if (dir !== r.fd) closeSync(dir);
    }
  } finally {
    closeSync(r.fd);
  }
}

export interface TreeLimits {
  /** Regular files read, at most. */
  maxFiles: number;
  /** Bytes of regular files read, at most. */
  maxBytes: number;
  /** Entries of any kind seen (directories and skipped links too), at most: a walk of a million empty folders ends. Default 4 × maxFiles + 1000. */
  maxEntries?: number;
}

export class TreeLimitError extends Error {}

export interface TreeRead {
  /** Relative POSIX path -> bytes, regular files only. */
  files: Map<string, Buffer>;
  /** What was not read: links (never followed) and special files (never opened). */
  skipped: Array<{ path: string; kind: "link" | "special" }>;
}

/**
 * Every regular file under `root/rel` (a real directory reached without a
 * link), by path relative to `root/rel`. Links and special files are skipped
 * and listed, never followed or opened; past a limit, TreeLimitError.
 */
export function readTreeUnder(root: string, rel: string, limits: TreeLimits): TreeRead {
  const out: TreeRead = { files: new Map(), skipped: [] };
  const maxEntries = limits.maxEntries ?? limits.maxFiles * 4 + 1000;
  let bytes = 0;
  let entries = 0;
  const prefix = rel === "" || rel === "." ? "" : `${rel}/`;
  const r = openRoot(root);
  const walk = (dirFd: number, sub: string, depth: number): void => {
    if (depth > MAX_DEPTH) throw new TreeLimitError(`${prefix}${sub} is nested deeper than ${MAX_DEPTH} folders`);
    const dir = opendirSync(`/proc/self/fd/${dirFd}`);
    try {
      for (let e = dir.readSync(); e; e = dir.readSync()) {
        if (++entries > maxEntries) throw new TreeLimitError(`more than ${maxEntries} entries`);
        const path = sub ? `${sub}/${e.name}` : e.name;
        const st = lstatAt(dirFd, e.name);
        if (!st) continue; // removed meanwhile
        const kind = kindOf(st);
        if (kind === "link" || kind === "special") out.skipped.push({ path, kind });
        else if (kind === "directory") {
          let child: number;
          try {
            child = openChildDir(dirFd, e.name, r, `${prefix}${path}`);
          } catch (err) {
            if (err instanceof UnsafePathError && err.reason !== "outside") {
              if (err.reason !== "missing") out.skipped.push({ path, kind: err.reason === "special" ? "special" : "link" });
              continue;
            }
            throw err;
          }
          try {
            walk(child, path, depth + 1);
          } finally {
            closeSync(child);
          }
        } else {
          if (out.files.size >= limits.maxFiles) throw new TreeLimitError(`more than ${limits.maxFiles} files`);
          let data: Buffer;
          try {
            data = readChildFile(dirFd, e.name, `${prefix}${path}`, limits.maxBytes - bytes);
          } catch (err) {
            if (!(err instanceof UnsafePathError)) throw err;
            if (err.reason === "too-large") throw new TreeLimitError(`more than ${limits.maxBytes} bytes`);
            if (err.reason === "link" || err.reason === "special") out.skipped.push({ path, kind: err.reason });
            continue; // raced away: not part of the tree any more
          }
          bytes += data.length;
          out.files.set(path, data);
        }
      }
    } finally {
      dir.closeSync();
    }
  };
  try {
    const start = openDirUnder(r, components(rel));
    try {
      walk(start, "", 0);
    } finally {
      if (start !== r.fd) closeSync(start);
    }
  } finally {
    closeSync(r.fd);
  }
  return out;
}
