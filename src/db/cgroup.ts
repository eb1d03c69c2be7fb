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
// controllers down to a child ("no internal processes").
import { existsSync, mkdirSync, readFileSync, realpathSync, rmdirSync, writeFileSync } from "node:fs";
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
  /** Memory now and at its highest (v1 max_usage; v2 memory.peak where the kernel has it), CPU time used, OOM kills. */
  usage(): { memoryBytes: number; peakBytes?: number; cpuUsec: number; oomKills: number };
  /** rmdir, once the server's processes are gone (a few tries: the last exits are reaped asynchronously). */
  remove(): Promise<void>;
}

const PERIOD_US = 100_000;

/** Creates (or takes over, after a crash) the cgroup and writes its limits; throws a plain reason when it cannot. */
export function createServerCgroup(name: string, limits: CgroupLimits, root = "/sys/fs/cgroup"): ServerCgroup {
  if (process.getuid?.() !== 0) throw new Error("not running as root");
  const memory = Math.floor(limits.memoryMb * 1024 * 1024);
  const quota = Math.max(1000, Math.round(limits.cpus * PERIOD_US));
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
  return {
    name,
    version: 2,
    procs: [join(dir, "cgroup.procs")],
    usage: () => {
      const peak = join(dir, "memory.peak");
      return {
        memoryBytes: Number(read(join(dir, "memory.current"))),
        ...(existsSync(peak) && { peakBytes: Number(read(peak)) }),
        cpuUsec: Number(/usage_usec (\d+)/.exec(read(join(dir, "cpu.stat")))?.[1] ?? 0),
        oomKills: Number(/oom_kill (\d+)/.exec(read(join(dir, "memory.events")))?.[1] ?? 0),
      };
    },
    remove: () => removeDirs([dir]),
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
  return {
    name,
    version: 1,
    procs: dirs.map((d) => join(d, "cgroup.procs")),
    usage: () => ({
      memoryBytes: Number(read(join(mem, "memory.usage_in_bytes"))),
      peakBytes: Number(read(join(mem, "memory.max_usage_in_bytes"))),
      cpuUsec: acct ? Math.round(Number(read(join(acct, "cpuacct.usage"))) / 1000) : 0,
      oomKills: Number(/oom_kill (\d+)/.exec(read(join(mem, "memory.oom_control")))?.[1] ?? 0),
    }),
    remove: () => removeDirs(dirs),
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

async function removeDirs(dirs: string[]) {
  for (const d of dirs) {
    for (let i = 0; existsSync(d); i++) {
      try {
        rmdirSync(d);
      } catch (e) {
        if (i >= 50) throw new Error(`cgroup ${d} could not be removed: ${(e as Error).message}`);
        await Bun.sleep(100); // EBUSY while the last backend's exit is still being reaped
      }
    }
  }
}

function read(path: string): string {
  return readFileSync(path, "utf8").trim();
}

function write(path: string, value: string) {
  writeFileSync(path, value);
}
