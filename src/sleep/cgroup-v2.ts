// Deep sleep on cgroup v2 (Debian 12 and most current hosts). Docker runs a
// preview with memory.swap.max 0 (swap equal to its memory limit), so the
// frozen container is first allowed to swap (memory.swap.max "max"), then
// asked to give back everything above the floor with memory.reclaim (kernel
// 5.19+; proactive reclaim, it returns EAGAIN when it got less than asked:
// what it did get stays out). Without memory.reclaim, memory.high is lowered
// to the floor instead, which makes the kernel reclaim down to it.
// On restore, swap.max and memory.high go back to what they were, so a
// running preview is not swapped (pages already out fault back in as they
// are touched). Tested against real files only where a v2 host is at hand;
// test/sleep/reclaimer.test.ts checks the file logic in a temporary tree.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { v2Dir } from "./cgroup-paths.ts";
import type { MemoryReclaimer, ReclaimResult } from "./reclaimer.ts";

interface Saved {
  swapMax: string;
  high?: string;
}

export class CgroupV2Reclaimer implements MemoryReclaimer {
  readonly kind = "cgroup v2";
  private readonly saved = new Map<string, Saved>();

  constructor(private readonly o: { floorBytes: number; root?: string }) {}

  private dir(id: string): string {
    const d = v2Dir(this.o.root ?? "/sys/fs/cgroup", id);
    if (!d) throw new Error(`no cgroup v2 directory for container ${id.slice(0, 12)}`);
    return d;
  }

  async reclaim(id: string): Promise<ReclaimResult> {
    const d = this.dir(id);
    const beforeBytes = current(d);
    const swapMax = join(d, "memory.swap.max");
    const saved: Saved = this.saved.get(id) ?? { swapMax: existsSync(swapMax) ? read(swapMax) : "max" };
    if (existsSync(swapMax)) writeFileSync(swapMax, "max");
    const reclaim = join(d, "memory.reclaim");
    if (existsSync(reclaim)) {
      const want = beforeBytes - this.o.floorBytes;
      if (want > 0) {
        try {
          writeFileSync(reclaim, String(want));
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== "EAGAIN") throw new Error(`memory.reclaim of ${id.slice(0, 12)}: ${(err as Error).message}`);
        }
      }
    } else {
      saved.high ??= read(join(d, "memory.high"));
      writeFileSync(join(d, "memory.high"), String(this.o.floorBytes));
    }
    this.saved.set(id, saved);
    return { beforeBytes, afterBytes: current(d), limitBytes: this.o.floorBytes };
  }

  async restore(id: string): Promise<void> {
    const d = this.dir(id);
    // Unknown after a daemon restart: Docker's own values for a preview (no swap, no high mark).
    const s = this.saved.get(id) ?? { swapMax: "0", high: "max" };
    if (s.high !== undefined) writeFileSync(join(d, "memory.high"), s.high);
    if (existsSync(join(d, "memory.swap.max"))) writeFileSync(join(d, "memory.swap.max"), s.swapMax);
    this.saved.delete(id);
  }

  resident(id: string): number | undefined {
    const d = v2Dir(this.o.root ?? "/sys/fs/cgroup", id);
    return d ? current(d) : undefined;
  }
}

const read = (p: string) => readFileSync(p, "utf8").trim();
const current = (d: string) => Number(read(join(d, "memory.current")));
