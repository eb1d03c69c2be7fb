// Readings of a process from /proc: its memory, and the CPU time its
// threads (and child processes) used. CPU time is the fair measure on a
// small shared machine: wrk, the app and the proxy compete for the same
// cores, so req/s alone mixes a proxy's cost with everyone else's.
import { readdirSync, readFileSync } from "node:fs";

const TICK_MS = 10; // USER_HZ is 100 on Linux (getconf CLK_TCK)

const read = (path: string): string => {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
};

/** VmRSS of one process, MiB (NaN once it is gone). */
export function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(read(`/proc/${pid}/status`));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** Proportional set size summed over processes (shared pages counted once overall), MiB. */
export function pssMiB(pids: number[]): number {
  let kb = 0;
  for (const pid of pids) kb += Number(/^Pss:\s+(\d+) kB/m.exec(read(`/proc/${pid}/smaps_rollup`))?.[1] ?? 0);
  return kb / 1024;
}

/** The process and all its descendants (nginx's master and workers, the embedded PostgreSQL's backends). */
export function processTree(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    for (const task of readdirSync(`/proc/${out[i]}/task`, { withFileTypes: false }).map(String)) {
      for (const child of read(`/proc/${out[i]}/task/${task}/children`).split(" ").filter(Boolean)) out.push(Number(child));
    }
  }
  return out.filter((p) => read(`/proc/${p}/stat`) !== "");
}

function cpuOf(statLine: string): number {
  // Fields after "(comm)": state is field 3, utime 14, stime 15 (proc(5)).
  const f = statLine.slice(statLine.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) * TICK_MS;
}

/**
 * CPU ms used so far by each thread name of the given processes: "main"
 * (Bun's JS thread and its HTTP server; each nginx process), "HTTP Client"
 * (Bun's fetch thread), and so on. Threads that ended are not counted.
 */
export function cpuByThread(pids: number[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const pid of pids) {
    let tasks: string[] = [];
    try {
      tasks = readdirSync(`/proc/${pid}/task`).map(String);
    } catch {
      continue;
    }
    for (const t of tasks) {
      const stat = read(`/proc/${pid}/task/${t}/stat`);
      if (!stat) continue;
      // The main thread is named after the executable (bun, bun.exe, nginx): call it "main".
      const name = t === String(pid) ? "main" : read(`/proc/${pid}/task/${t}/comm`).trim() || "?";
      out[name] = (out[name] ?? 0) + cpuOf(stat);
    }
  }
  return out;
}

/** The difference of two cpuByThread readings (what ran in between). */
export function cpuDelta(after: Record<string, number>, before: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(after)) {
    const d = v - (before[k] ?? 0);
    if (d > 0) out[k] = d;
  }
  return out;
}

/** User and kernel (sys) CPU ms used so far by the given processes. */
export function userSys(pids: number[]): { user: number; sys: number } {
  let user = 0;
  let sys = 0;
  for (const pid of pids) {
    const stat = read(`/proc/${pid}/stat`);
    if (!stat) continue;
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    user += Number(f[11]) * TICK_MS;
    sys += Number(f[12]) * TICK_MS;
  }
  return { user, sys };
}

export const total = (cpu: Record<string, number>): number => Object.values(cpu).reduce((a, b) => a + b, 0);

/** Samples the largest RSS of a process every `ms` until stopped. */
export function rssSampler(pids: () => number[], ms = 200): { stop(): number } {
  let max = 0;
  const sample = () => {
    const sum = pids().reduce((a, p) => a + (rssMiB(p) || 0), 0);
    max = Math.max(max, sum);
  };
  sample();
  const timer = setInterval(sample, ms);
  return {
    stop() {
      clearInterval(timer);
      sample();
      return max;
    },
  };
}

/** The whole machine's CPU ms so far, busy (every state but idle and iowait) and idle, over all cores (/proc/stat). */
export function machineCpu(): { busy: number; idle: number } {
  const f = read("/proc/stat").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
  const idle = (f[3] ?? 0) + (f[4] ?? 0);
  const all = f.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: (all - idle) * TICK_MS, idle: idle * TICK_MS };
}
