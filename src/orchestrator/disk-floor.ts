// The free-disk floor below which this node writes no more previews: a
// create or a file change is refused with 507 before anything is written.
// A full host disk shows up late and badly otherwise (preview disks are
// sparse images, so a write inside one fails at writeback, not at the call).
import { statfsSync } from "node:fs";
import { insufficientStorage } from "../errors.ts";

export class DiskFloor {
  constructor(private readonly o: { dirs: string[]; minFreeMb: number } | undefined) {}

  /** Throws 507 when a directory previews are written to has less than the floor free. */
  check(): void {
    if (!this.o) return;
    for (const dir of this.o.dirs) {
      let freeMb: number;
      try {
        const s = statfsSync(dir);
        freeMb = (s.bavail * s.bsize) / (1024 * 1024);
      } catch {
        continue; // not made yet: nothing to judge
      }
      if (freeMb < this.o.minFreeMb) throw insufficientStorage(dir, `${freeMb.toFixed(1)} MB free, at least ${this.o.minFreeMb} MB needed`);
    }
  }

  get ok(): boolean {
    try {
      this.check();
      return true;
    } catch {
      return false;
    }
  }

  /** What a write that ran out of space anyway is reported against. */
  get firstDir(): string {
    return this.o?.dirs[0] ?? "the data directory";
  }
}
