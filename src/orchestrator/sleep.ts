// Sleep and wake, the idle policy of this node's previews (as sablier's
// strategies): a preview idle past PREVIEWD_IDLE_TIMEOUT is paused (memory
// kept, it wakes in tens of milliseconds); one suspended past the second
// stage is stopped (memory freed, disk kept, it restarts from its files).
// The idle clock's times are written to the store every few seconds, so a
// sibling or a restarted daemon knows them. Out of the orchestrator so that
// its lifecycle (create, files, delete) and this policy read apart.
import { unavailable } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { IdleClock, Runtime } from "../pool/index.ts";
import type { PreviewStatus } from "../types.ts";
import { serially, type Live } from "./live.ts";
import type { PreviewStore } from "./ports.ts";

export interface SleepDeps {
  live: Map<string, Live>;
  idle: IdleClock;
  runtime: Runtime;
  store: Pick<PreviewStore, "update">;
  log: Logger;
  idleTimeoutMs: number;
  stopAfterMs: number;
  /** The CPU limit of a running preview, and the boost a restart gets. */
  cpus: number;
  boostCpus?: number;
  observe?: (event: "wake", seconds: number, labels: Record<string, string>) => void;
  /** Activity this node saw for a preview it does not run (its idle clock is kept elsewhere). */
  foreignActivity?: (id: string, at: Date) => void;
  setStatus(l: Live, status: PreviewStatus): Promise<void>;
  /** Waits until a restarted app answers (bringup.ts). */
  watchReadiness(l: Live): Promise<void>;
  /** The proxy threads stop routing it; true when one of them is using it (the pause is called off). */
  beforePause?(id: string): Promise<boolean>;
}

export class SleepCycle {
  constructor(private readonly o: SleepDeps) {}

  /**
   * Pauses the container. The status turns "suspended" before the pause, so
   * a request from then on takes the slow path and waits to unpause it rather
   * than stall on a frozen app. `ifIdleFor` re-checks the idle clock under the
   * lock (a request may have come in since the sweep looked).
   */
  pause(l: Live, ifIdleFor?: number): Promise<void> {
    return serially(l, async () => {
      if (!l.container || (l.record.status !== "running" && l.record.status !== "starting")) return;
      if (ifIdleFor !== undefined && this.o.idle.idleFor(ifIdleFor, [l.record.id]).length === 0) return;
      const before = l.record.status;
      l.record.status = "suspended";
      if (await this.o.beforePause?.(l.record.id)) {
        l.record.status = before; // a proxy thread has a request in flight, or had one since its last report
        return;
      }
      try {
        await this.o.runtime.pause(l.container.containerId);
      } catch (err) {
        l.record.status = before;
        throw err;
      }
      await this.o.setStatus(l, "suspended");
    });
  }

  /** The second idle stage: the container stops (memory freed), its disk stays. */
  private stopSuspended(l: Live): Promise<void> {
    return serially(l, async () => {
      if (!l.container || l.record.status !== "suspended") return;
      await this.o.runtime.unpause(l.container.containerId);
      await this.o.setStatus(l, "stopped"); // before the stop, so its "die" event is not taken for a crash
      await this.o.runtime.stop(l.container.containerId);
    });
  }

  /**
   * Makes a suspended or stopped preview answer again. Concurrent callers
   * share one wake. A paused container resumes with its memory; a stopped one
   * restarts its app from the files on its disk.
   */
  wake(l: Live): Promise<void> {
    if (l.record.status === "running" || l.record.status === "starting" || l.record.status === "installing") return l.ready ?? Promise.resolve();
    l.waking ??= serially(l, async () => {
      const c = l.container;
      if (!c) throw unavailable(`Preview ${l.record.id} has no container on this node.`);
      const t0 = performance.now();
      const from = l.record.status;
      if (l.record.status === "suspended") {
        await this.o.runtime.unpause(c.containerId);
        await this.o.setStatus(l, "running");
      } else if (l.record.status === "stopped") {
        await this.o.runtime.setCpus(c.containerId, this.o.boostCpus ?? this.o.cpus).catch(() => {});
        await this.o.runtime.start(c.containerId);
        l.container = (await this.o.runtime.inspect(c.containerId)) ?? c;
        if (!l.record.spec.port) l.port = undefined;
        await this.o.setStatus(l, "starting");
        l.ready = this.o.watchReadiness(l);
        await l.ready;
      }
      if (from === "suspended" || from === "stopped") this.o.observe?.("wake", (performance.now() - t0) / 1000, { from, outcome: l.record.status === "running" ? "running" : "failed" });
    }).finally(() => (l.waking = undefined));
    return l.waking;
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
    for (const id of this.o.idle.idleFor(this.o.idleTimeoutMs + this.o.stopAfterMs, suspended)) {
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
