// Fairness between previews. Bun's fetch has one process-wide cap on requests
// in flight (BUN_CONFIG_MAX_HTTP_REQUESTS, 256 by default) and queues past it
// for every origin alike: ~260 requests hanging on one preview left a request
// to another unanswered for 12 s (issue 16). So each preview gets its own cap,
// answered past it with 503 + Retry-After (RFC 9110 §15.6.4, §10.2.3), and the
// process-wide cap is raised far above it (fetchCap, set by main.ts).

/** Counters in shared memory, one per preview (fast/shared-limit.ts): the limit across several fronts. */
export interface SharedCounters {
  counters: Int32Array;
  slotOf(id: string): number | undefined;
}

export class InflightLimit {
  private readonly counts = new Map<string, number>();
  /** With shared counters: the slot each preview's requests here took, and how many hold it. */
  private readonly held = new Map<string, { slot: number; n: number }>();

  constructor(readonly perPreview: number, private readonly shared?: SharedCounters) {}

  /** Takes a slot for `id`, or says no when its requests in flight are at the limit. */
  tryAcquire(id: string): boolean {
    const h = this.held.get(id);
    const slot = h ? h.slot : this.shared?.slotOf(id);
    if (slot === undefined) {
      const n = this.counts.get(id) ?? 0;
      if (n >= this.perPreview) return false;
      this.counts.set(id, n + 1);
      return true;
    }
    const c = this.shared!.counters;
    if (Atomics.add(c, slot, 1) >= this.perPreview) {
      Atomics.sub(c, slot, 1);
      return false;
    }
    if (h) h.n++;
    else this.held.set(id, { slot, n: 1 });
    return true;
  }

  release(id: string): void {
    const h = this.held.get(id);
    if (h) {
      // The counter it took, whatever the slot table says now.
      Atomics.sub(this.shared!.counters, h.slot, 1);
      if (--h.n === 0) this.held.delete(id);
      return;
    }
    const n = (this.counts.get(id) ?? 1) - 1;
    if (n <= 0) this.counts.delete(id);
    else this.counts.set(id, n);
  }

  /** Requests in flight for `id`: on every front, with shared counters. */
  inflight(id: string): number {
    const slot = this.held.get(id)?.slot;
    return slot === undefined ? this.counts.get(id) ?? 0 : Atomics.load(this.shared!.counters, slot);
  }
}

/**
 * The process-wide fetch cap for a per-preview limit: room for 64 previews at
 * their limit at once, at least 4096, at most what Bun accepts (a larger
 * value is ignored and the default of 256 applies: measured on Bun 1.4.5).
 */
export function fetchCap(perPreview: number): number {
  return Math.min(65_535, Math.max(4096, perPreview * 64));
}

/** Seconds a client is told to wait before it tries a busy preview again. */
export const RETRY_AFTER_S = 1;

/**
 * Makes `previewd serve` run with the fetch cap raised. Bun reads
 * BUN_CONFIG_MAX_HTTP_REQUESTS from the environment it started with (setting
 * process.env later has no effect: measured), so when the operator has not
 * set it, the process replaces itself (execve: same pid, for systemd) with
 * one that has it. Returns only when nothing needed doing.
 */
export function ensureFetchCap(perPreview: number): void {
  if (process.env.BUN_CONFIG_MAX_HTTP_REQUESTS) return; // the operator's value stands
  const execve = (process as { execve?: (file: string, args: string[], env: Record<string, string | undefined>) => never }).execve;
  if (!execve) return;
  // A `bun build --compile` executable sees argv [exe, "/$bunfs/root/previewd", ...args] but takes [exe, ...args].
  const args = Bun.main.startsWith("/$bunfs/")
    ? [process.execPath, ...process.argv.slice(2)]
    : [process.execPath, ...process.execArgv, ...process.argv.slice(1)];
  execve(process.execPath, args, { ...process.env, BUN_CONFIG_MAX_HTTP_REQUESTS: String(fetchCap(perPreview)) });
}
