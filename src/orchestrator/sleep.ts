// Sleep and wake, the idle policy of this node's previews (as sablier's
// strategies): a preview idle past PREVIEWD_IDLE_TIMEOUT is paused (sleep
// "frozen": memory kept, it wakes in tens of milliseconds); suspended past
// PREVIEWD_RECLAIM_AFTER its memory is pushed out to swap (sleep
// "reclaimed", src/sleep/: state kept in swap, ~11 MiB resident, it wakes in
// about a hundred milliseconds); suspended past PREVIEWD_STOP_AFTER it is
// stopped (memory freed, disk kept, it restarts from its files). A wake gives
// the memory limit back first, then thaws: thawed under the floor, the app
// would thrash or be OOM-killed.
// The idle clock's times are written to the store every few seconds, so a
// sibling or a restarted daemon knows them. Out of the orchestrator so that
// its lifecycle (create, files, delete) and this policy read apart.
import { unavailable } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { Lifecycle } from "../lifecycle/index.ts";
import type { IdleClock, Runtime } from "../pool/index.ts";
import type { Live, LiveSet } from "./live.ts";
import type { PreviewStore } from "./ports.ts";
import type { MemoryReclaimer } from "../sleep/index.ts";

export interface SleepDeps {
  live: Pick<LiveSet, "get" | "values">;
  idle: IdleClock;
  runtime: Runtime;
  store: Pick<PreviewStore, "update">;
  log: Logger;
  idleTimeoutMs: number;
  stopAfterMs: number;
  /** Deep sleep: suspended this long, memory pushed out (0 or no reclaimer: never). */
  reclaimAfterMs?: number;
  reclaimer?: MemoryReclaimer;
  /** The CPU limit of a running preview, and the boost a restart gets. */
  cpus: number;
  boostCpus?: number;
  observe?: (event: "wake", seconds: number, labels: Record<string, string>) => void;
  /** Activity this node saw for a preview it does not run (its idle clock is kept elsewhere). */
  foreignActivity?: (id: string, at: Date) => void;
  lifecycle: Lifecycle;
  /** Waits until a restarted app answers (bringup.ts). */
  watchReadiness(l: Live): Promise<void>;
  /** The proxy threads stop routing it; true when one of them is using it (the pause is called off). */
  beforePause?(id: string): Promise<boolean>;
}

export class SleepCycle {
  constructor(private readonly o: SleepDeps) {}

  /** How often the sweep runs: often enough for the shortest stage (deep sleep may come sooner after a suspend than the suspend itself). */
  get sweepEveryMs(): number {
    const shortest = Math.min(this.o.idleTimeoutMs, this.o.reclaimer && this.o.reclaimAfterMs ? this.o.reclaimAfterMs : Infinity);
    return Math.max(50, Math.min(shortest / 4, 15_000));
  }

  /**
   * Pauses the container. The status turns "suspended" before the pause, so
   * a request from then on takes the slow path and waits to unpause it rather
   * than stall on a frozen app. `ifIdleFor` re-checks the idle clock under the
   * lock (a request may have come in since the sweep looked).
   */
  pause(l: Live, ifIdleFor?: number): Promise<void> {
    return this.o.lifecycle.queue(l.record.id, async () => {
      if (!l.container || (l.record.status !== "running" && l.record.status !== "starting")) return;
      if (ifIdleFor !== undefined && this.o.idle.idleFor(ifIdleFor, [l.record.id]).length === 0) return;
      const containerId = l.container.containerId;
      const why = ifIdleFor === undefined ? "suspended by request" : `idle for ${Math.round(ifIdleFor / 1000)} s`;
      await this.o.lifecycle.move(l, "suspended", why, {
        during: async () => {
          // A proxy thread has a request in flight, or had one since its last report: called off.
          if (await this.o.beforePause?.(l.record.id)) return false;
          await this.o.runtime.pause(containerId);
        },
      });
    });
  }

  /**
   * Deep sleep: a frozen preview's memory pushed out to swap (src/sleep/).
   * The stage is "reclaimed" in memory before the limit is lowered, so a
   * wake queued meanwhile (or a crash between the two) restores it; a
   * failure leaves it frozen.
   */
  reclaim(l: Live): Promise<void> {
    const reclaimer = this.o.reclaimer;
    return this.o.lifecycle.queue(l.record.id, async () => {
      if (!reclaimer || !l.container || l.record.status !== "suspended" || l.record.sleep !== "frozen") return;
      const containerId = l.container.containerId;
      let sizes: { beforeBytes: number; afterBytes: number } | undefined;
      await this.o.lifecycle.move(l, "suspended", "memory pushed out to swap (deep sleep)", {
        patch: { sleep: "reclaimed" },
        during: async () => void (sizes = await reclaimer.reclaim(containerId)),
      });
      const mb = (b: number) => Math.round(b / 1048576);
      this.o.log.info({ id: l.record.id, beforeMiB: mb(sizes!.beforeBytes), afterMiB: mb(sizes!.afterBytes) }, "deep sleep: memory pushed out to swap");
    });
  }

  /** The memory limit back before a thaw; every wake asks (a write that does nothing when it was never lowered). */
  private async giveMemoryBack(l: Live, containerId: string): Promise<void> {
    if (!this.o.reclaimer) return;
    try {
      await this.o.reclaimer.restore(containerId);
    } catch (err) {
      // Reclaimed, the thaw would run the app under the floor: the wake fails instead. Never reclaimed: harmless.
      if (l.record.sleep === "reclaimed") throw err;
      this.o.log.debug({ err, id: l.record.id }, "memory limit not restored (never lowered)");
    }
  }

  /** The last idle stage: the container stops (memory freed), its disk stays. */
  private stopSuspended(l: Live): Promise<void> {
    return this.o.lifecycle.queue(l.record.id, async () => {
      if (!l.container || l.record.status !== "suspended") return;
      const containerId = l.container.containerId;
      await this.giveMemoryBack(l, containerId);
      await this.o.runtime.unpause(containerId);
      // Stopped before the stop, so its "die" event is not taken for a crash.
      await this.o.lifecycle.move(l, "stopped", `suspended for ${Math.round(this.o.stopAfterMs / 1000)} s`);
      await this.o.runtime.stop(containerId);
    });
  }

  /**
   * Makes a suspended or stopped preview answer again. Concurrent callers
   * share one wake. A paused container resumes with its memory; a stopped one
   * restarts its app from the files on its disk.
   */
  wake(l: Live): Promise<void> {
    if (l.record.status === "running" || l.record.status === "starting" || l.record.status === "installing") return l.ready ?? Promise.resolve();
    l.waking ??= this.o.lifecycle.queue(l.record.id, () => this.wakeNow(l)).finally(() => (l.waking = undefined));
    return l.waking;
  }

  /** The wake itself, for an operation that already holds the preview's queue (a file change). */
  async wakeNow(l: Live): Promise<void> {
    const c = l.container;
    const from = l.record.status;
    if (from !== "suspended" && from !== "stopped") return;
    if (!c) throw unavailable(`Preview ${l.record.id} has no container on this node.`);
    const t0 = performance.now();
    if (from === "suspended") {
      await this.giveMemoryBack(l, c.containerId);
      await this.o.runtime.unpause(c.containerId);
      await this.o.lifecycle.move(l, "running", "woken");
    } else {
      await this.o.runtime.setCpus(c.containerId, this.o.boostCpus ?? this.o.cpus).catch(() => {});
      await this.o.runtime.start(c.containerId);
      l.container = (await this.o.runtime.inspect(c.containerId)) ?? c;
      if (!l.record.spec.port) l.port = undefined;
      await this.o.lifecycle.move(l, "starting", "woken from its disk");
      l.ready = this.o.watchReadiness(l);
      await l.ready;
    }
    this.o.observe?.("wake", (performance.now() - t0) / 1000, { from, outcome: l.record.status === "running" ? "running" : "failed" });
  }

  /** Suspends previews idle past the timeout; stops those suspended past the second stage. */
  async sweepIdle(): Promise<void> {
    const running = [...this.o.live.values()].filter((l) => l.record.status === "running").map((l) => l.record.id);
    for (const id of this.o.idle.idleFor(this.o.idleTimeoutMs, running)) {
      const l = this.o.live.get(id);
      if (l?.record.status !== "running") continue;
      this.o.log.info({ id }, "suspending idle preview");
      await this.pause(l, this.o.idleTimeoutMs).catch((err) => this.o.log.warn({ err, id }, "suspend failed"));
    }
    const suspended = [...this.o.live.values()].filter((l) => l.record.status === "suspended").map((l) => l.record.id);
    const toStop = new Set(this.o.idle.idleFor(this.o.idleTimeoutMs + this.o.stopAfterMs, suspended));
    const after = this.o.reclaimAfterMs ?? 0;
    if (this.o.reclaimer && after > 0) {
      const now = Date.now();
      for (const id of suspended) {
        const l = this.o.live.get(id);
        if (!l || toStop.has(id) || l.record.sleep !== "frozen" || now - (l.sleptAt ?? now) < after) continue;
        await this.reclaim(l).catch((err) => {
          l.sleptAt = Date.now(); // tried again after another PREVIEWD_RECLAIM_AFTER, not at every sweep
          this.o.log.warn({ err, id }, "deep sleep failed: the preview stays frozen in memory");
        });
      }
    }
    for (const id of toStop) {
      const l = this.o.live.get(id);
      if (!l) continue;
      this.o.log.info({ id }, "stopping long-suspended preview (disk kept)");
      await this.stopSuspended(l).catch((err) => this.o.log.warn({ err, id }, "stop failed"));
    }
  }

  /** Writes the idle clock's renewed times to the store (every 5 s, and at stop). */
  async flushActivity(): Promise<void> {
    for (const [id, at] of this.o.idle.takeDirty()) {
      const l = this.o.live.get(id);
      if (!l) {
        this.o.foreignActivity?.(id, at); // a preview this node only forwards to (a sibling's, or one on Fly)
        continue;
      }
      l.record.lastActiveAt = at;
      // PostgreSQL away: the time stays in memory and is written at a later flush.
      await this.o.store.update(id, { lastActiveAt: at }).catch(() => this.o.idle.keepDirty(id));
    }
  }
}
