// An app whose process exits with code 0 is not done: a dev server does not
// finish. `next dev` exits 0 when the kernel's OOM killer ended its server
// process (it reports the worker's missing exit code as 0), and Docker's
// on-failure restart policy does not restart a code-0 exit, so the daemon
// does: a bounded number of times in a window, then the preview is failed,
// and each status says why (naming the OOM kill when the cgroup saw one).

/** Default budget: 3 restarts in 10 minutes. */
export const CLEAN_EXIT_RESTARTS = 3;
export const CLEAN_EXIT_WINDOW_MS = 10 * 60_000;
/** An OOM event this close before the exit counts as its cause (Docker sends `oom` just before `die`). */
const OOM_RECENT_MS = 30_000;

export interface CleanExitMemory {
  /** When this preview's code-0 exits were restarted (ms), newest last. */
  cleanExits?: number[];
  /** When its container last reported an OOM kill (Docker's `oom` event). */
  oomAt?: number;
}

export interface CleanExitDecision {
  restart: boolean;
  /** For the status: the phase while it restarts, or the failure. */
  message: string;
}

export class CleanExitPolicy {
  constructor(private readonly o: { restarts?: number; windowMs?: number; memoryMb?: number; now?: () => number } = {}) {}

  /** What to do about a code-0 exit; `oomKilled` is what inspecting the exited container said. */
  decide(m: CleanExitMemory, oomKilled: boolean | undefined): CleanExitDecision {
    const now = (this.o.now ?? Date.now)();
    const max = this.o.restarts ?? CLEAN_EXIT_RESTARTS;
    const windowMs = this.o.windowMs ?? CLEAN_EXIT_WINDOW_MS;
    const recent = (m.cleanExits ?? []).filter((t) => now - t < windowMs);
    const oom = oomKilled === true || (m.oomAt !== undefined && now - m.oomAt < OOM_RECENT_MS);
    m.oomAt = undefined; // one OOM explains one exit
    const limit = this.o.memoryMb ? ` (its limit is ${this.o.memoryMb} MB)` : "";
    const why = oom
      ? `the app exited with code 0 after the kernel killed one of its processes for lack of memory${limit}`
      : "the app exited with code 0 (a dev server should keep running)";
    const minutes = Math.round(windowMs / 60_000);
    const span = windowMs < 60_000 ? `${Math.round(windowMs / 1000)} s` : minutes === 1 ? "1 minute" : `${minutes} minutes`;
    if (recent.length >= max) {
      m.cleanExits = recent;
      return { restart: false, message: `The app exited with code 0 ${max + 1} times in ${span}; restarted ${max} times, then given up. The last time, ${why}.` };
    }
    recent.push(now);
    m.cleanExits = recent;
    return { restart: true, message: `restarting: ${why} (restart ${recent.length} of ${max} in ${span})` };
  }
}
