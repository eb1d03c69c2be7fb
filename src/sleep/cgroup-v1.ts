// Deep sleep on cgroup v1 (this machine; hybrid hosts): the frozen
// container's memory.limit_in_bytes is lowered to the floor. The kernel then
// reclaims the cgroup's pages before the write returns: page cache is evicted,
// anonymous memory goes to swap. Docker creates previews with memsw equal to
// the memory limit (pool/docker.ts), which leaves room to swap within it once
// the memory limit is lower. memory.force_empty is not used: it is for a cgroup
// with no tasks left, not a live one.
//
// The write fails with EBUSY when the kernel cannot get usage under the new
// limit (swap full, or no swap): the limit then goes to what it did reach, a
// few steps up, so a partial reclaim still holds.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { v1MemoryDir } from "./cgroup-paths.ts";
import type { MemoryReclaimer, ReclaimResult } from "./reclaimer.ts";

const STEP = 4 * 1024 * 1024;

export class CgroupV1Reclaimer implements MemoryReclaimer {
  readonly kind = "cgroup v1";
  /** The limit each reclaimed container had (what restore gives back); the configured limit after a daemon restart. */
  private readonly saved = new Map<string, number>();

  constructor(private readonly o: { floorBytes: number; limitBytes: number; root?: string }) {}

  private dir(id: string): string {
    const d = v1MemoryDir(this.o.root ?? "/sys/fs/cgroup", id);
    if (!d) throw new Error(`no cgroup v1 memory directory for container ${id.slice(0, 12)}`);
    return d;
  }

  async reclaim(id: string): Promise<ReclaimResult> {
    const d = this.dir(id);
    const beforeBytes = usage(d);
    const current = Number(read(join(d, "memory.limit_in_bytes")));
    if (current > this.o.floorBytes && !this.saved.has(id)) this.saved.set(id, current);
    let limit = this.o.floorBytes;
    for (let attempt = 0; ; attempt++) {
      try {
        writeFileSync(join(d, "memory.limit_in_bytes"), String(limit));
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EBUSY" || attempt >= 4) throw new Error(`lowering memory.limit_in_bytes of ${id.slice(0, 12)} to ${limit}: ${(err as Error).message}`);
        // What the failed attempt reached, and a little headroom: the pages it could not move stay.
        limit = Math.max(limit, Math.ceil(usage(d) / STEP) * STEP + STEP * attempt);
      }
    }
    return { beforeBytes, afterBytes: usage(d), limitBytes: limit };
  }

  async restore(id: string): Promise<void> {
    const d = this.dir(id);
    const limit = this.saved.get(id) ?? this.o.limitBytes;
    // memsw (memory + swap) must stay >= the memory limit: raised first where it is lower.
    const memsw = join(d, "memory.memsw.limit_in_bytes");
    try {
      if (Number(read(memsw)) < limit) writeFileSync(memsw, String(limit));
    } catch {
      // no swap accounting in this kernel: only the memory limit
    }
    writeFileSync(join(d, "memory.limit_in_bytes"), String(limit));
    this.saved.delete(id);
  }

  resident(id: string): number | undefined {
    const d = v1MemoryDir(this.o.root ?? "/sys/fs/cgroup", id);
    return d ? usage(d) : undefined;
  }
}

const read = (p: string) => readFileSync(p, "utf8").trim();
const usage = (d: string) => Number(read(join(d, "memory.usage_in_bytes")));
