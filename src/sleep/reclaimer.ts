// The memory reclaimer port (issue 29, deep sleep): a frozen preview's memory
// pushed out of RAM, and given back before it thaws. The core (the idle
// policy in orchestrator/sleep.ts) owns this interface; cgroup-v1.ts,
// cgroup-v2.ts and memory.ts implement it, and daemon.ts picks one by what
// the host has (probe.ts).
//
// Why a cgroup limit and not a snapshot: a paused container keeps all its
// memory (the freezer stops CPU only). Lowering its memory limit while it is
// frozen makes the kernel reclaim the cgroup's pages right away: page cache
// is dropped, anonymous memory goes to swap (compressed by zswap or zram).
// Measured here: a Vite dev server from 99 to 11 MiB resident in 0.2 s, and
// after the limit is raised again and the container thawed, its in-memory
// state is all there (pages fault back in as they are touched).

export interface ReclaimResult {
  /** Resident bytes (the cgroup's usage) before and after. */
  beforeBytes: number;
  afterBytes: number;
  /** What the adapter left in place (a v1 limit, or v2's memory.high), for the log. */
  limitBytes: number;
}

export interface MemoryReclaimer {
  /** Which mechanism this is ("cgroup v1", "cgroup v2", "memory"), for logs and the start-up line. */
  readonly kind: string;
  /**
   * Pushes a frozen container's memory out, down to the floor where swap
   * allows. Throws with a plain reason when nothing could be done (no such
   * cgroup, no permission); a partial reclaim (swap full) resolves with the
   * sizes it reached.
   */
  reclaim(containerId: string): Promise<ReclaimResult>;
  /** Gives the container its memory limit back; called before it is thawed. Idempotent. */
  restore(containerId: string): Promise<void>;
  /** The container's resident bytes now (cgroup usage), undefined when not found. */
  resident(containerId: string): number | undefined;
}

/** Mebibytes to bytes. */
export const mib = (n: number) => Math.round(n * 1024 * 1024);
