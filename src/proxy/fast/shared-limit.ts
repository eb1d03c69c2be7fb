// The per-preview in-flight limit across every front on the public port
// (threads.ts): one counter per preview in shared memory, taken and given back
// with atomics, so a preview gets exactly its limit however the kernel spreads
// connections over the fronts (a share per front would refuse a preview whose
// connections happened to land on one). The main thread hands the counters
// out (a preview's slot travels with its route to the threads) and takes one
// back once its preview has left the routes and the counter is zero.

/** Counters: far more than the previews a node runs (~100 on 8 GB), so a slot is always free. */
const SLOTS = 16_384;
/** A freed slot waits this long before reuse: a thread still routing by its last table has the new one by then. */
const QUARANTINE_MS = 5000;

export class SlotTable {
  readonly counters = new Int32Array(new SharedArrayBuffer(SLOTS * 4));
  private readonly slots = new Map<string, number>();
  private readonly free: number[] = [];
  private readonly resting: Array<{ slot: number; until: number }> = [];
  private next = 0;

  /** The counter of `id`, handed out on first use; undefined only when every one is taken. */
  slotOf(id: string): number | undefined {
    let slot = this.slots.get(id);
    if (slot !== undefined) return slot;
    slot = this.free.pop() ?? (this.next < SLOTS ? this.next++ : undefined);
    if (slot !== undefined) this.slots.set(id, slot);
    return slot;
  }

  /** Takes back the slots of previews not in `live` whose counters are zero; reusable after the quarantine. */
  sweep(live: Set<string>, now = Date.now()): void {
    for (const [id, slot] of this.slots) {
      if (live.has(id) || Atomics.load(this.counters, slot) !== 0) continue;
      this.slots.delete(id);
      this.resting.push({ slot, until: now + QUARANTINE_MS });
    }
    while (this.resting.length && this.resting[0]!.until <= now) {
      const { slot } = this.resting.shift()!;
      // A request a thread took on it just before the sweep and still holds: it rests longer.
      if (Atomics.load(this.counters, slot) === 0) this.free.push(slot);
      else this.resting.push({ slot, until: now + QUARANTINE_MS });
    }
  }
}
