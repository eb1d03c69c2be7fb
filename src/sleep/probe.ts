// What the host offers deep sleep, read once at start: swap (its total and
// kind from /proc/swaps), zswap (on or off), the cgroup version, and
// whether this process may write cgroup limits. daemon.ts says it in one
// line and, where deep sleep cannot work, one clear line of why (suspended
// previews then keep their memory, as before).
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { CgroupV1Reclaimer } from "./cgroup-v1.ts";
import { CgroupV2Reclaimer } from "./cgroup-v2.ts";
import { mib, type MemoryReclaimer } from "./reclaimer.ts";

export interface SwapFacts {
  totalBytes: number;
  freeBytes: number;
  /** "file", "partition" (zram shows as one), by device. */
  devices: Array<{ name: string; type: string; sizeBytes: number }>;
  /** zswap's state; undefined where the kernel has none. */
  zswap?: boolean;
  zswapCompressor?: string;
}

export interface HostMemory {
  swap: SwapFacts;
  cgroup?: 1 | 2;
  /** Set when deep sleep cannot work here: the line the daemon logs. */
  unavailable?: string;
  reclaimer?: MemoryReclaimer;
}

function readOr(path: string, fallback = ""): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return fallback;
  }
}

export function probeSwap(proc = "/proc", sys = "/sys"): SwapFacts {
  const meminfo = readOr(join(proc, "meminfo"));
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, "m").exec(meminfo)?.[1] ?? 0) * 1024;
  const devices = readOr(join(proc, "swaps"))
    .split("\n")
    .slice(1)
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length >= 3 && f[0])
    .map(([name, type, size]) => ({ name: name!, type: type!, sizeBytes: Number(size) * 1024 }));
  const enabled = readOr(join(sys, "module/zswap/parameters/enabled")).trim();
  const compressor = readOr(join(sys, "module/zswap/parameters/compressor")).trim();
  return {
    totalBytes: kb("SwapTotal"),
    freeBytes: kb("SwapFree"),
    devices,
    ...(enabled && { zswap: enabled === "Y" }),
    ...(compressor && { zswapCompressor: compressor }),
  };
}

/** The reclaimer this host supports, or why there is none. */
export function probeHost(o: { floorMb: number; limitMb: number; cgroupRoot?: string; proc?: string; sys?: string; uid?: number }): HostMemory {
  const root = o.cgroupRoot ?? "/sys/fs/cgroup";
  const swap = probeSwap(o.proc, o.sys);
  const cgroup = existsSync(join(root, "cgroup.controllers")) ? 2 : existsSync(join(root, "memory", "memory.limit_in_bytes")) ? 1 : undefined;
  const out: HostMemory = { swap, ...(cgroup && { cgroup }) };
  const uid = o.uid ?? process.getuid?.() ?? 0;
  if (swap.totalBytes === 0) {
    out.unavailable = "no swap on this host: suspended previews keep their memory (PREVIEWD_SWAP is off, or set-up was not run as root; run scripts/start or scripts/install as root to make a swap file)";
  } else if (cgroup === undefined) {
    out.unavailable = `no memory cgroup at ${root}: suspended previews keep their memory`;
  } else if (uid !== 0) {
    out.unavailable = "not running as root: cgroup limits cannot be lowered, suspended previews keep their memory";
  }
  if (out.unavailable) return out;
  out.reclaimer = cgroup === 2
    ? new CgroupV2Reclaimer({ floorBytes: mib(o.floorMb), root })
    : new CgroupV1Reclaimer({ floorBytes: mib(o.floorMb), limitBytes: mib(o.limitMb), root });
  return out;
}

/** The start-up line's words for what was found. */
export function describeSwap(s: SwapFacts): string {
  if (s.totalBytes === 0) return "no swap";
  const kinds = s.devices.map((d) => (d.name.startsWith("/dev/zram") ? "zram" : d.type)).join(", ");
  const zswap = s.zswap === undefined ? "no zswap in this kernel" : s.zswap ? `zswap on (${s.zswapCompressor ?? "?"})` : "zswap off";
  return `swap ${Math.round(s.totalBytes / 1048576)} MiB (${kinds}), ${zswap}`;
}

/**
 * The start-up lines: what was found, in one line, and where deep sleep
 * cannot work, one warning saying why. Returns the reclaimer to use (none
 * when deep sleep is off or impossible).
 */
export function setUpDeepSleep(o: { reclaimAfterS: number; floorMb: number; limitMb: number }, log: { info(o: object, m: string): void; warn(o: object, m: string): void }, host = probeHost(o)): MemoryReclaimer | undefined {
  const found = describeSwap(host.swap);
  const summary = { swapBytes: host.swap.totalBytes, zswap: host.swap.zswap ?? null, cgroup: host.cgroup ?? null, reclaimAfter: o.reclaimAfterS };
  if (o.reclaimAfterS === 0) {
    log.info({ summary }, `memory: ${found}; deep sleep off (PREVIEWD_RECLAIM_AFTER=0)`);
    return undefined;
  }
  if (!host.reclaimer) {
    log.info({ summary }, `memory: ${found}`);
    log.warn({ reason: host.unavailable }, `deep sleep cannot work: ${host.unavailable}`);
    return undefined;
  }
  log.info({ summary }, `memory: ${found}; deep sleep after ${o.reclaimAfterS} s suspended (${host.reclaimer.kind}, floor ${o.floorMb} MiB)`);
  return host.reclaimer;
}
