// A preview's share of the embedded server's CPU. Its queries run in the
// server's backends, outside its container's 0.25 CPU: four busy queries of
// one preview took both host cores (issue 10). The server's cgroup bounds all
// previews together (cgroup.ts); this divides it. Every round, the CPU time
// each preview role's backends used (/proc/<pid>/stat) is summed; a role past
// its share over the window gets its backends reniced to 19, so under
// contention the kernel gives them ~1/70 of a normal backend's time on the
// same core, and it is put back to 0 once the role is under half its share.
// Not a bound across cores: niced backends on another core draw on the
// server's one cgroup quota as fast as any (measured: the others get ~50% on
// 2 cores, not ~98%). A child cgroup with its own cpu.max for yielding
// backends would be; not built yet (README, "CPU share per preview"). Work-conserving: an
// idle server still runs a niced query at full speed; nothing is cancelled
// (the watchdog does that, by time and memory). Only where the server's
// processes are this host's (the embedded server); on Supabase there is no
// such handle.
import { readFileSync } from "node:fs";
import { setPriority } from "node:os";
import type { Logger } from "../log.ts";
import type { Sql } from "./client.ts";

export interface CpuShareOptions {
  sql: Sql;
  log: Logger;
  /** CPUs one preview's backends may use together before they yield (its container's share: PREVIEWD_CPUS). */
  shareCpus: number;
  /** How often to look; the rate is measured over this window. */
  everyMs?: number;
}

/** Nice value of a backend whose preview is past its share. */
export const YIELD_NICE = 19;
const TICKS_PER_S = 100; // USER_HZ on Linux

export class DatabaseCpuShare {
  readonly counts = { yielded: 0, restored: 0 };
  /** CPU ticks per backend at the last round. */
  private last = new Map<number, number>();
  private lastAt = 0;
  /** Roles whose backends are niced now. */
  private readonly niced = new Set<string>();
  private timer?: ReturnType<typeof setInterval>;
  private busy = false;

  constructor(private readonly o: CpuShareOptions) {}

  start(): void {
    this.timer = setInterval(() => void this.round(), this.o.everyMs ?? 2000);
    this.timer.unref?.();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Roles niced now (for tests and logs). */
  get yielding(): string[] {
    return [...this.niced];
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
          if (!this.niced.has(role) && cpus > this.o.shareCpus) {
            this.niced.add(role);
            this.counts.yielded++;
            this.o.log.warn({ role, cpus: Math.round(cpus * 100) / 100, share: this.o.shareCpus }, "a preview's database work is past its CPU share: its backends yield to others'");
          } else if (this.niced.has(role) && cpus < this.o.shareCpus / 2) {
            this.niced.delete(role);
            this.counts.restored++;
            for (const pid of pids) renice(pid, 0);
            continue;
          }
          // Every round: new backends of a niced role are niced too.
          if (this.niced.has(role)) for (const pid of pids) renice(pid, YIELD_NICE);
        }
        for (const role of this.niced) if (!pidsOf.has(role)) this.niced.delete(role); // its sessions are gone
      }
      this.last = ticks;
      this.lastAt = now;
    } catch (err) {
      this.o.log.warn({ err }, "database CPU share round failed");
    } finally {
      this.busy = false;
    }
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
