// A preview's share of the embedded server's CPU. Its queries run in the
// server's backends, outside its container's 0.25 CPU: four busy queries of
// one preview took both host cores (issue 10). The server's cgroup bounds all
// previews together (cgroup.ts); this divides it. Every round, the CPU time
// each preview role's backends used (/proc/<pid>/stat) is summed; a role past
// its share over the window yields until it is under half its share again:
//  - with the server's CPU boxes (cgroup.ts), its backends are moved into a
//    child cgroup of their own whose quota is the share: together they get
//    at most that, on any number of cores, and the others the rest of the
//    server's quota. Not work-conserving while it lasts: the preview's
//    database work is held to what its container gets.
//  - without them (no writable cgroups), its backends are reniced to 19: under
//    contention the kernel gives them ~1/70 of a normal backend's time on the
//    same core only (niced backends on another core draw on the server's one
//    quota as fast as any: the others got ~50% on 2 cores, not ~98%).
// Nothing is cancelled (the watchdog does that, by time and memory). Only
// where the server's processes are this host's (the embedded server); on
// Supabase there is no such handle.
import { readFileSync } from "node:fs";
import { setPriority } from "node:os";
import type { Logger } from "../log.ts";
import type { CpuBoxes } from "./cgroup.ts";
import type { Sql } from "./client.ts";

export interface CpuShareOptions {
  sql: Sql;
  log: Logger;
  /** CPUs one preview's backends may use together before they yield (its container's share: PREVIEWD_CPUS). */
  shareCpus: number;
  /** How often to look; the rate is measured over this window. */
  everyMs?: number;
  /** The server cgroup's CPU boxes: a bound across cores. Without them, nice. */
  boxes?: CpuBoxes;
}

/** Nice value of a backend whose preview is past its share. */
export const YIELD_NICE = 19;
const TICKS_PER_S = 100; // USER_HZ on Linux
/** Roles previewd made (preview_{id}), the only names a box is made for. */
const OUR_ROLE = /^preview_[a-z0-9]{1,40}$/;

export class DatabaseCpuShare {
  readonly counts = { yielded: 0, restored: 0 };
  /** CPU ticks per backend at the last round. */
  private last = new Map<number, number>();
  private lastAt = 0;
  /** Roles yielding now (boxed or niced). */
  private readonly yielders = new Set<string>();
  private boxes: CpuBoxes | undefined;
  private timer?: ReturnType<typeof setInterval>;
  private busy = false;

  constructor(private readonly o: CpuShareOptions) {
    this.boxes = o.boxes;
  }

  start(): void {
    this.timer = setInterval(() => void this.round(), this.o.everyMs ?? 2000);
    this.timer.unref?.();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Roles yielding now (for tests and logs). */
  get yielding(): string[] {
    return [...this.yielders];
  }

  async round(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const backends = await this.o.sql<{ pid: number; role: string }[]>`
        SELECT pid, usename AS role FROM pg_stat_activity
        WHERE usename LIKE 'preview\\_%' AND backend_type = 'client backend'`;
      const now = performance.now();
      const seconds = (now - this.lastAt) / 1000;
      const used = new Map<string, number>();
      const pidsOf = new Map<string, number[]>();
      const ticks = new Map<number, number>();
      for (const b of backends) {
        const t = cpuTicks(b.pid);
        if (t === undefined) continue;
        ticks.set(b.pid, t);
        pidsOf.set(b.role, [...(pidsOf.get(b.role) ?? []), b.pid]);
        const before = this.last.get(b.pid);
        if (before !== undefined) used.set(b.role, (used.get(b.role) ?? 0) + (t - before) / TICKS_PER_S);
      }
      if (this.lastAt > 0 && seconds > 0) {
        for (const [role, pids] of pidsOf) {
          const cpus = (used.get(role) ?? 0) / seconds;
          if (!this.yielders.has(role) && cpus > this.o.shareCpus) {
            this.yielders.add(role);
            this.counts.yielded++;
            this.o.log.warn({ role, cpus: Math.round(cpus * 100) / 100, share: this.o.shareCpus, by: this.boxes ? "quota" : "nice" }, "a preview's database work is past its CPU share: its backends yield to others'");
          } else if (this.yielders.has(role) && cpus < this.o.shareCpus / 2) {
            this.restore(role, pids);
            continue;
          }
          // Every round: new backends of a yielding role yield too.
          if (this.yielders.has(role)) this.hold(role, pids);
        }
        for (const role of this.yielders) if (!pidsOf.has(role)) this.restore(role, [], false); // its sessions are gone
      }
      this.last = ticks;
      this.lastAt = now;
    } catch (err) {
      this.o.log.warn({ err }, "database CPU share round failed");
    } finally {
      this.busy = false;
    }
  }

  private hold(role: string, pids: number[]): void {
    for (const pid of pids) {
      if (this.boxes && OUR_ROLE.test(role)) {
        try {
          this.boxes.hold(role, pid, this.o.shareCpus);
          continue;
        } catch (err) {
          if (cpuTicks(pid) === undefined) continue; // gone with its session
          // A box the kernel refuses: nice from now on.
          this.o.log.error({ reason: (err as Error).message }, "a preview's backends cannot be held in a CPU box: CPU shares are kept by nice from now on (one core's bound only)");
          this.boxes = undefined;
        }
      }
      renice(pid, YIELD_NICE);
    }
  }

  private restore(role: string, pids: number[], counted = true): void {
    this.yielders.delete(role);
    if (counted) this.counts.restored++;
    if (this.boxes) {
      try {
        if (OUR_ROLE.test(role)) this.boxes.release(role);
      } catch (err) {
        this.o.log.warn({ role, reason: (err as Error).message }, "a CPU box could not be released");
      }
    }
    for (const pid of pids) renice(pid, 0);
  }
}

/** utime + stime of a process, in clock ticks; undefined once it is gone. */
export function cpuTicks(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) may hold spaces and parentheses: count fields from the last ")".
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(fields[11]) + Number(fields[12]); // fields 14 and 15 of the whole line
  } catch {
    return undefined;
  }
}

function renice(pid: number, nice: number): void {
  try {
    setPriority(pid, nice);
  } catch {
    // gone already, or not ours to renice
  }
}
