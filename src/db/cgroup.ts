// The embedded PostgreSQL in a cgroup of its own (issue 10, item 3). Why:
// a preview's queries run in the server's backends, not in its container, so
// the container's limits do not hold for them: one `SET work_mem='1500MB'`
// sort reached 2.37 GB, four busy queries took both host cores. Every backend
// is a child of the postmaster and inherits its cgroup, so limits on that one
// cgroup bound the whole server: it may get its own backends OOM-killed (the
// postmaster then restarts them), never the host.
//
// cgroup v2 (Debian 12): /sys/fs/cgroup/<name> with memory.max, memory.high
// (a tenth below max: the kernel reclaims and throttles the allocating
// backend before it OOM-kills), memory.swap.max 0 and cpu.max.
// cgroup v1 (hybrid hosts): <name> in the memory hierarchy
// (memory.limit_in_bytes, memsw too) and in cpu (cfs quota/period), and in
// cpuacct for the usage figure when it is mounted apart from cpu.
//
// The cgroup sits at the top of each hierarchy, not under the daemon's own:
// on v2 a cgroup holding processes (the daemon's service) cannot hand
// controllers down to a child ("no internal processes"). For the same reason
// the server's processes live in a leaf `main` of it on v2.
//
// CPU boxes: child cgroups in the cpu hierarchy, one per preview past its
// share of the server's CPU (cpushare.ts), each with a quota of its own
// inside the server's. Unlike a nice value, a quota holds across cores: a
// preview's three busy backends on two cores get its share together, not
// a core (measured: README, "CPU share per preview").
import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface CgroupLimits {
  memoryMb: number;
  /** CPUs, such as 0.5 or 2: a CFS quota of cpus × period. */
  cpus: number;
}

export interface ServerCgroup {
  name: string;
  version: 1 | 2;
  /** The cgroup.procs files a process must be written into (one per v1 hierarchy, one on v2). */
  procs: string[];
  /** Where the limits are written (one directory per v1 hierarchy, one on v2). */
  dirs: string[];
  /** The cgroup path the server's processes are in, as /proc/<pid>/cgroup gives it. */
  home: string;
  /** Per-preview CPU quotas inside the server's; undefined where the layout leaves no room (a flat v2 cgroup). */
  boxes?: CpuBoxes;
  /** Memory now and at its highest (v1 max_usage; v2 memory.peak where the kernel has it), CPU time used, OOM kills. */
  usage(): { memoryBytes: number; peakBytes?: number; cpuUsec: number; oomKills: number };
  /** rmdir, once the server's processes are gone (a few tries: the last exits are reaped asynchronously). */
  remove(): Promise<void>;
}

export interface CpuBoxes {
  /** Moves `pid` into the box `name` (made on first use), whose processes share `cpus` together. */
  hold(name: string, pid: number, cpus: number): void;
  /** Moves every process of the box back to the server's own cgroup and removes the box. */
  release(name: string): void;
  /** The cgroup path of a box, as /proc/<pid>/cgroup gives it. */
  pathOf(name: string): string;
}

const PERIOD_US = 100_000;
const BOX_NAME = /^[a-z0-9_]{1,63}$/;
const quotaOf = (cpus: number) => Math.max(1000, Math.round(cpus * PERIOD_US));

/** Creates (or takes over, after a crash) the cgroup and writes its limits; throws a plain reason when it cannot. */
export function createServerCgroup(name: string, limits: CgroupLimits, root = "/sys/fs/cgroup"): ServerCgroup {
  if (process.getuid?.() !== 0) throw new Error("not running as root");
  const memory = Math.floor(limits.memoryMb * 1024 * 1024);
  const quota = quotaOf(limits.cpus);
  return existsSync(join(root, "cgroup.controllers")) ? v2(root, name, memory, quota) : v1(root, name, memory, quota);
}

function v2(root: string, name: string, memory: number, quota: number): ServerCgroup {
  const enabled = read(join(root, "cgroup.subtree_control")).split(/\s+/);
  const missing = ["memory", "cpu"].filter((c) => !enabled.includes(c));
  if (missing.length > 0) {
    const available = read(join(root, "cgroup.controllers")).split(/\s+/);
    const absent = missing.filter((c) => !available.includes(c));
    if (absent.length > 0) throw new Error(`cgroup v2 at ${root} offers no ${absent.join(", ")} controller`);
    write(join(root, "cgroup.subtree_control"), missing.map((c) => `+${c}`).join(" "));
  }
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  write(join(dir, "memory.max"), String(memory));
  write(join(dir, "memory.high"), String(Math.floor(memory * 0.9)));
  // Swap would let the server past memory.max onto the disk, slowing the whole host instead of failing one query.
  if (existsSync(join(dir, "memory.swap.max"))) write(join(dir, "memory.swap.max"), "0");
  write(join(dir, "cpu.max"), `${quota} ${PERIOD_US}`);
  removeBoxes(dir); // a crashed daemon's, empty now
  // Processes in a leaf, so that the cgroup may hand `cpu` down to boxes beside it; where the kernel refuses, flat and no boxes.
  let leaf: string | undefined = join(dir, "main");
  try {
    if (!read(join(dir, "cgroup.subtree_control")).split(/\s+/).includes("cpu")) write(join(dir, "cgroup.subtree_control"), "+cpu");
    mkdirSync(leaf, { recursive: true });
  } catch {
    leaf = undefined;
  }
  const home = leaf ?? dir;
  return {
    name,
    version: 2,
    procs: [join(home, "cgroup.procs")],
    dirs: [dir],
    home: `/${name}${leaf ? "/main" : ""}`,
    ...(leaf && { boxes: cpuBoxes(dir, leaf, `/${name}`, (box, quota) => write(join(box, "cpu.max"), `${quota} ${PERIOD_US}`)) }),
    usage: () => {
      const peak = join(dir, "memory.peak");
      return {
        memoryBytes: Number(read(join(dir, "memory.current"))),
        ...(existsSync(peak) && { peakBytes: Number(read(peak)) }),
        cpuUsec: Number(/usage_usec (\d+)/.exec(read(join(dir, "cpu.stat")))?.[1] ?? 0),
        oomKills: Number(/oom_kill (\d+)/.exec(read(join(dir, "memory.events")))?.[1] ?? 0),
      };
    },
    remove: () => removeTree(dir),
  };
}

function v1(root: string, name: string, memory: number, quota: number): ServerCgroup {
  const hierarchy = (c: string) => {
    const p = join(root, c);
    if (!existsSync(join(p, "cgroup.procs"))) throw new Error(`no cgroup v1 ${c} hierarchy at ${p}`);
    return realpathSync(p); // cpu and cpuacct are often one hierarchy (cpu,cpuacct) behind two symlinks
  };
  const mem = join(hierarchy("memory"), name);
  const cpu = join(hierarchy("cpu"), name);
  const acct = existsSync(join(root, "cpuacct", "cgroup.procs")) ? join(hierarchy("cpuacct"), name) : undefined;
  const dirs = [...new Set([mem, cpu, ...(acct ? [acct] : [])])];
  for (const d of dirs) mkdirSync(d, { recursive: true });
  // memsw (memory + swap) must stay >= the memory limit: lower it last when shrinking, raise it first when growing.
  const memsw = join(mem, "memory.memsw.limit_in_bytes");
  if (existsSync(memsw)) {
    try { write(memsw, String(memory)); } catch { /* below the old memory limit: set after it */ }
  }
  write(join(mem, "memory.limit_in_bytes"), String(memory));
  if (existsSync(memsw)) write(memsw, String(memory));
  write(join(cpu, "cpu.cfs_period_us"), String(PERIOD_US));
  write(join(cpu, "cpu.cfs_quota_us"), String(quota));
  removeBoxes(cpu); // a crashed daemon's, empty now
  return {
    name,
    version: 1,
    procs: dirs.map((d) => join(d, "cgroup.procs")),
    dirs,
    home: `/${name}`,
    boxes: cpuBoxes(cpu, cpu, `/${name}`, (box, quota) => {
      write(join(box, "cpu.cfs_period_us"), String(PERIOD_US));
      write(join(box, "cpu.cfs_quota_us"), String(quota));
    }),
    usage: () => ({
      memoryBytes: Number(read(join(mem, "memory.usage_in_bytes"))),
      peakBytes: Number(read(join(mem, "memory.max_usage_in_bytes"))),
      cpuUsec: acct ? Math.round(Number(read(join(acct, "cpuacct.usage"))) / 1000) : 0,
      oomKills: Number(/oom_kill (\d+)/.exec(read(join(mem, "memory.oom_control")))?.[1] ?? 0),
    }),
    remove: async () => {
      for (const d of dirs) await removeTree(d);
    },
  };
}

/**
 * The command line that runs `argv` inside the cgroup, with no window in which
 * the postmaster could fork a backend outside it: a root shell joins the
 * cgroup, makes itself the last pick of the OOM killer (where root may: it
 * needs CAP_SYS_RESOURCE, which some sandboxes withhold), then execs (same pid).
 * PostgreSQL's PG_OOM_ADJUST_* (environment) puts every child back to 0, so
 * under memory pressure a backend is killed and the postmaster survives to
 * restart it.
 */
export function joinCommand(cg: ServerCgroup, argv: string[]): { cmd: string; args: string[]; env: Record<string, string> } {
  const script = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 97; shift; done; shift; { echo -1000 > /proc/self/oom_score_adj; } 2>/dev/null; exec "$@"';
  return {
    cmd: "/bin/sh",
    args: ["-c", script, "sh", ...cg.procs, "--", ...argv],
    env: { PG_OOM_ADJUST_FILE: "/proc/self/oom_score_adj", PG_OOM_ADJUST_VALUE: "0" },
  };
}

/** A process's cgroup paths, one per hierarchy (`/proc/<pid>/cgroup`), keyed by controller list ("" on v2). */
export function cgroupsOf(pid: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of read(`/proc/${pid}/cgroup`).split("\n")) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line);
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

/**
 * Boxes as children of `parent` (the cgroup whose quota they share), named
 * `box-<name>`; a process released goes back to `home` (the server's leaf).
 * `path` is the parent's cgroup path, for pathOf.
 */
function cpuBoxes(parent: string, home: string, path: string, setQuota: (dir: string, quota: number) => void): CpuBoxes {
  const dirOf = (name: string) => {
    if (!BOX_NAME.test(name)) throw new Error(`not a CPU box name: ${JSON.stringify(name)}`);
    return join(parent, `box-${name}`);
  };
  return {
    hold(name, pid, cpus) {
      const dir = dirOf(name);
      if (!existsSync(dir)) {
        mkdirSync(dir);
        setQuota(dir, quotaOf(cpus));
      }
      write(join(dir, "cgroup.procs"), String(pid));
    },
    release(name) {
      const dir = dirOf(name);
      if (!existsSync(dir)) return;
      for (const pid of read(join(dir, "cgroup.procs")).split("\n").filter(Boolean)) {
        try {
          write(join(home, "cgroup.procs"), pid);
        } catch {
          // exited meanwhile
        }
      }
      try {
        rmdirSync(dir);
      } catch {
        // a process still leaving: the next release, or the server's stop, removes it
      }
    },
    pathOf: (name) => `${path}/box-${name}`,
  };
}

/** Removes the boxes found in `dir` (empty: their processes are gone with the server that had them). */
function removeBoxes(dir: string): void {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (!e.isDirectory() || !e.name.startsWith("box-")) continue;
    try {
      rmdirSync(join(dir, e.name));
    } catch {
      // still holds a process: left as it is
    }
  }
}

/** rmdir of a cgroup and its children, once their processes are gone (a few tries: the last exits are reaped asynchronously). */
async function removeTree(dir: string): Promise<void> {
  if (!existsSync(dir)) return;
  for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) await removeTree(join(dir, e.name));
  for (let i = 0; existsSync(dir); i++) {
    try {
      rmdirSync(dir);
    } catch (e) {
      if (i >= 50) throw new Error(`cgroup ${dir} could not be removed: ${(e as Error).message}`);
      await Bun.sleep(100); // EBUSY while the last backend's exit is still being reaped
    }
  }
}

function read(path: string): string {
  return readFileSync(path, "utf8").trim();
}

function write(path: string, value: string) {
  writeFileSync(path, value);
}
