// Capacity by memory (issue 29, item 3): what this node's previews hold, so
// placement admits by memory and not by a count alone. An awake preview
// (installing, starting, running) counts its measured resident size, at
// least the per-preview reservation (an app grows after its first page
// load); a suspended one counts what it measures (a reclaimed one ~ the
// floor); a stopped or failed one holds none. PREVIEWD_CAPACITY stays an
// upper bound on the count. Short of room, the longest-idle frozen previews
// are sent to deep sleep before a create is refused.
import { ACTIVE } from "../lifecycle/index.ts";
import type { IdleClock } from "../pool/index.ts";
import type { Live, LiveSet } from "./live.ts";

export interface MemoryOptions {
  /** Memory previews may use on this node (PREVIEWD_MEMORY_BUDGET_MB). */
  budgetBytes: number;
  /** What an awake preview is counted as at least, and what a create needs free (PREVIEWD_MEMORY_RESERVE_MB). */
  reserveBytes: number;
  /** What a deep-asleep preview keeps (PREVIEWD_RECLAIM_FLOOR_MB): what a reclaim of a frozen one cannot free. */
  floorBytes: number;
  /** A container's resident bytes now; undefined when unknown (then the reservation counts). */
  resident(containerId: string): number | undefined;
}

export interface MemoryFigures {
  totalBytes: number;
  freeBytes: number;
  /** Previews that would still fit: free memory, plus what deep sleep of the frozen ones would give, over the reservation. */
  slots: number;
}

/** Figures are this old at most: placement asks every 200 ms, and a read is one cgroup file per preview. */
const CACHE_MS = 1000;

export class MemoryAccount {
  private cached?: { at: number; figures: MemoryFigures };

  constructor(private readonly o: MemoryOptions & { live: Pick<LiveSet, "values" | "reserved">; idle: IdleClock }) {}

  /** A preview moved (created, woke, slept, went): the next figures are read again. */
  invalidate(): void {
    this.cached = undefined;
  }

  get reserveBytes(): number {
    return this.o.reserveBytes;
  }

  private held(l: Live): number {
    const s = l.record.status;
    const measured = l.container ? this.o.resident(l.container.containerId) : undefined;
    if (ACTIVE.has(s)) return Math.max(this.o.reserveBytes, measured ?? 0);
    if (s === "suspended") return measured ?? this.o.reserveBytes;
    return 0;
  }

  /** Frozen previews and what deep sleep would free of each, longest idle first. */
  reclaimable(): Array<{ live: Live; bytes: number }> {
    const out: Array<{ live: Live; bytes: number; idleSince: number }> = [];
    for (const l of this.o.live.values()) {
      if (l.record.status !== "suspended" || l.record.sleep !== "frozen" || !l.container) continue;
      const bytes = this.held(l) - this.o.floorBytes;
      if (bytes > 0) out.push({ live: l, bytes, idleSince: this.o.idle.lastActiveAt(l.record.id) ?? l.record.lastActiveAt.getTime() });
    }
    return out.sort((a, b) => a.idleSince - b.idleSince);
  }

  figures(fresh = false): MemoryFigures {
    const now = Date.now();
    if (!fresh && this.cached && now - this.cached.at < CACHE_MS) return this.cached.figures;
    let used = this.o.live.reserved * this.o.reserveBytes;
    for (const l of this.o.live.values()) used += this.held(l);
    const freeBytes = Math.max(0, this.o.budgetBytes - used);
    const spare = this.reclaimable().reduce((s, r) => s + r.bytes, 0);
    const figures = { totalBytes: this.o.budgetBytes, freeBytes, slots: Math.floor((freeBytes + spare) / this.o.reserveBytes) };
    this.cached = { at: now, figures };
    return figures;
  }

  /**
   * Room for one more preview: true at once when free memory covers the
   * reservation; else frozen previews go to deep sleep, longest idle first,
   * until it does. False when even that is not enough.
   */
  async makeRoom(reclaim: (l: Live) => Promise<void>): Promise<boolean> {
    if (this.figures(true).freeBytes >= this.o.reserveBytes) return true;
    for (const { live } of this.reclaimable()) {
      await reclaim(live).catch(() => {});
      if (this.figures(true).freeBytes >= this.o.reserveBytes) return true;
    }
    return false;
  }
}
