// The warm pool: containers started ahead of demand, each idling in its runner
// with a preview id chosen at creation (Docker labels are fixed for life, so
// the id travels with the container). A claim takes one in O(1); the pool
// refills in the background with bounded concurrency so a burst of creates
// does not fork-bomb the engine.
import type { Logger } from "../log.ts";
import type { ContainerState, Runtime } from "./runtime.ts";

export interface WarmPoolOptions {
  runtime: Runtime;
  size: number;
  newId: () => string;
  log: Logger;
  /** Containers created at once while refilling. */
  concurrency?: number;
}

export class WarmPool {
  private readonly ready: ContainerState[] = [];
  private filling = 0;
  /** Creates in flight: a drain waits for them, so none lands after it as a stray container. */
  private readonly inFlight = new Set<Promise<unknown>>();
  private stopped = false;
  private failures = 0;

  constructor(private readonly o: WarmPoolOptions) {}

  get available(): number {
    return this.ready.length;
  }

  /** Takes containers found at start-up that still idle in their runner. */
  adopt(states: ContainerState[]): void {
    this.ready.push(...states);
  }

  /** A warm container if one is ready, else a cold one created now. */
  async claim(): Promise<{ state: ContainerState; warm: boolean }> {
    const warm = this.ready.shift();
    this.refill();
    if (warm) return { state: warm, warm: true };
    return { state: await this.o.runtime.create(this.o.newId()), warm: false };
  }

  /** Puts back a claimed container that never got files (e.g. its create failed later). */
  giveBack(state: ContainerState): void {
    if (this.stopped || this.ready.length >= this.o.size) void this.o.runtime.remove(state.containerId);
    else this.ready.push(state);
  }

  /** A container died or was removed behind our back: forget it. */
  forget(containerId: string): boolean {
    const i = this.ready.findIndex((s) => s.containerId === containerId);
    if (i >= 0) this.ready.splice(i, 1);
    return i >= 0;
  }

  refill(): void {
    const max = this.o.concurrency ?? 2;
    while (!this.stopped && this.filling < max && this.ready.length + this.filling < this.o.size) {
      this.filling++;
      const fill = this.o.runtime
        .create(this.o.newId())
        .then((state) => {
          this.failures = 0;
          if (this.stopped) return this.o.runtime.remove(state.containerId);
          this.ready.push(state);
        })
        .catch((err) => {
          this.failures++;
          this.o.log.warn({ err, failures: this.failures }, "warm container create failed");
        })
        .finally(() => {
          this.filling--;
          // Back off after failures (image missing, engine down) instead of spinning.
          if (this.failures === 0) this.refill();
          else setTimeout(() => this.refill(), Math.min(30_000, 500 * 2 ** this.failures)).unref?.();
        });
      this.inFlight.add(fill);
      void fill.finally(() => this.inFlight.delete(fill));
    }
  }

  /**
   * After a Docker engine restart: spares the engine stopped (no live-restore)
   * or that no longer idle are removed, the rest keep their (re-read) address,
   * and the pool refills at once instead of waiting out the back-off its
   * failed creates ran up while the engine was away.
   */
  async recheck(): Promise<{ kept: number; dropped: number }> {
    let kept = 0;
    let dropped = 0;
    for (const s of [...this.ready]) {
      const now = await this.o.runtime.inspect(s.containerId).catch(() => undefined);
      if (now?.status === "running" && (await this.o.runtime.isIdle(now))) {
        Object.assign(s, now);
        kept++;
        continue;
      }
      if (this.forget(s.containerId)) dropped++;
      await this.o.runtime.remove(s.containerId).catch(() => {});
    }
    this.failures = 0;
    this.refill();
    return { kept, dropped };
  }

  /** Removes the idle containers (daemon shutdown keeps previews, not spares). */
  async drain(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.inFlight); // each removes its container itself once it sees `stopped`
    const spare = this.ready.splice(0);
    await Promise.all(spare.map((s) => this.o.runtime.remove(s.containerId)));
  }
}
