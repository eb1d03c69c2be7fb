// The reclaimer port in memory, shipped as ordinary code: the idle policy's
// fast tests (and the in-memory runtime) use it. A container starts with
// `residentBytes` (settable per container); reclaim brings it to the floor,
// restore marks it whole again. `fail` makes reclaim throw, as a host
// without permission does; `calls` records what was asked, in order.
import type { MemoryReclaimer, ReclaimResult } from "./reclaimer.ts";

export class MemoryReclaimerFake implements MemoryReclaimer {
  readonly kind = "memory";
  readonly calls: Array<{ op: "reclaim" | "restore"; id: string }> = [];
  private readonly resident_ = new Map<string, number>();
  private readonly reclaimed = new Set<string>();
  fail?: Error;

  constructor(private readonly o: { floorBytes: number; residentBytes: number }) {}

  set(id: string, bytes: number): void {
    this.resident_.set(id, bytes);
  }

  isReclaimed(id: string): boolean {
    return this.reclaimed.has(id);
  }

  async reclaim(id: string): Promise<ReclaimResult> {
    this.calls.push({ op: "reclaim", id });
    if (this.fail) throw this.fail;
    const beforeBytes = this.resident(id);
    this.reclaimed.add(id);
    return { beforeBytes, afterBytes: this.resident(id), limitBytes: this.o.floorBytes };
  }

  async restore(id: string): Promise<void> {
    this.calls.push({ op: "restore", id });
    this.reclaimed.delete(id);
  }

  resident(id: string): number {
    return this.reclaimed.has(id) ? this.o.floorBytes : (this.resident_.get(id) ?? this.o.residentBytes);
  }
}
