// What a container uses right now, read straight from its cgroup (Docker's
// stats API streams one sample per second per container: too slow for a list
// of 500). Memory as `docker stats` shows it (usage minus reclaimable page
// cache); CPU as a share of one core between two reads.
import { existsSync, readFileSync } from "node:fs";

export interface Usage {
  memoryBytes: number;
  /** Percent of one core since the previous read (undefined on the first). */
  cpuPercent?: number;
}

const ROOT = "/sys/fs/cgroup";

function read(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

const stat = (text: string | undefined, key: string) => Number(new RegExp(`^${key} (\\d+)$`, "m").exec(text ?? "")?.[1] ?? 0);

/** Memory bytes and CPU nanoseconds of a container (cgroup v1 or v2, cgroupfs or systemd driver); undefined if not found. */
export function sample(containerId: string): { memoryBytes: number; cpuNanos: number } | undefined {
  const v1 = `${ROOT}/memory/docker/${containerId}`;
  if (existsSync(v1)) {
    const usage = Number(read(`${v1}/memory.usage_in_bytes`) ?? 0);
    const inactive = stat(read(`${v1}/memory.stat`), "total_inactive_file");
    return { memoryBytes: Math.max(0, usage - inactive), cpuNanos: Number(read(`${ROOT}/cpuacct/docker/${containerId}/cpuacct.usage`) ?? 0) };
  }
  for (const dir of [`${ROOT}/system.slice/docker-${containerId}.scope`, `${ROOT}/docker/${containerId}`]) {
    if (!existsSync(dir)) continue;
    const usage = Number(read(`${dir}/memory.current`) ?? 0);
    const inactive = stat(read(`${dir}/memory.stat`), "inactive_file");
    return { memoryBytes: Math.max(0, usage - inactive), cpuNanos: stat(read(`${dir}/cpu.stat`), "usage_usec") * 1000 };
  }
  return undefined;
}

/** Turns samples into usage, remembering each container's previous CPU reading. */
export class UsageMeter {
  private readonly last = new Map<string, { cpuNanos: number; at: number }>();

  read(containerId: string): Usage | undefined {
    const s = sample(containerId);
    if (!s) return undefined;
    const now = performance.now();
    const prev = this.last.get(containerId);
    this.last.set(containerId, { cpuNanos: s.cpuNanos, at: now });
    const u: Usage = { memoryBytes: s.memoryBytes };
    if (prev && now - prev.at > 200) u.cpuPercent = Math.round(((s.cpuNanos - prev.cpuNanos) / 1e6 / (now - prev.at)) * 1000) / 10;
    return u;
  }

  forget(containerId: string): void {
    this.last.delete(containerId);
  }
}
