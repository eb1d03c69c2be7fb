// Crash handling: Docker's events drive a preview's health. A crash is
// restarted by Docker's restart policy (bounded, doubling back-off); each
// restart re-arms readiness (the app is not up until it answers again); when
// Docker gives up, the preview is failed with its exit code and last lines.
// A code-0 exit, which Docker's on-failure policy leaves alone, is restarted
// here, bounded (clean-exit.ts).
import type { Logger } from "../log.ts";
import type { ContainerState, Runtime, RuntimeEvent } from "../pool/index.ts";
import type { Lifecycle } from "../lifecycle/index.ts";
import type { BringUp } from "./bringup.ts";
import { CleanExitPolicy } from "./clean-exit.ts";
import type { Live } from "./live.ts";

export interface HealthDeps {
  runtime: Runtime;
  log: Logger;
  bringUp: BringUp;
  live: (previewId: string) => Live | undefined;
  /** A spare container died or went away (not a preview's): the pool forgets it. */
  forgetSpare: (containerId: string) => void;
  lifecycle: Lifecycle;
  tail: (l: Live, lines: number) => Promise<string>;
  /** What to do about code-0 exits; unset: the default budget (clean-exit.ts). */
  cleanExit?: CleanExitPolicy;
}

export class Health {
  private readonly cleanExit: CleanExitPolicy;

  constructor(private readonly o: HealthDeps) {
    this.cleanExit = o.cleanExit ?? new CleanExitPolicy();
  }

  /** One Docker event of this node's containers. */
  async onEvent(e: RuntimeEvent): Promise<void> {
    const l = this.o.live(e.previewId);
    if (!l) {
      if (e.action === "die" || e.action === "destroy") this.o.forgetSpare(e.containerId);
      return;
    }
    // A container this preview no longer uses (replaced by drift.ts, re-created after a removal): its end is news to no one.
    if (l.container && l.container.containerId !== e.containerId) return;
    if (e.action === "oom") {
      l.oomAt = Date.now(); // an exit that follows is named for it (clean-exit.ts)
      this.o.log.warn({ id: e.previewId }, "preview hit its memory limit");
    }
    if (e.action === "start" && l.container) {
      // Docker restarted a crashed app: its address may have changed, and it
      // is not up until it answers again, whatever the status said (a crash
      // while starting, or a die handled as "starting" just before).
      const state = await this.o.runtime.inspect(e.containerId);
      l.container = state ?? l.container;
      // Never restarted by Docker and already answering: the late event of the start we asked for ourselves
      // (a new or re-created container). Re-arming would show a running app as starting.
      const ownStartSeenLate = l.record.status === "running" && state?.restartCount === 0;
      if ((l.record.status === "running" || l.record.status === "starting") && !ownStartSeenLate) await this.rearm(l);
    }
    if (e.action === "die" && (l.record.status === "running" || l.record.status === "starting")) {
      const state = await this.settledState(e.containerId);
      // Gone, not crashed: removed behind our back (`docker rm -f`). The drift loop (drift.ts) re-creates it from its files.
      if (!state) return this.o.log.warn({ id: l.record.id, containerId: e.containerId }, "preview's container was removed outside previewd");
      // Deleted, stopped or failed by someone else while Docker settled: theirs to say.
      if (l.record.status !== "running" && l.record.status !== "starting") return;
      if (state.status === "exited" && state.exitCode === 0) return this.onCleanExit(l, state);
      if (state.status === "exited" || state.status === "dead") {
        const logs = await this.o.tail(l, 30);
        if (l.record.status !== "running" && l.record.status !== "starting") return;
        const restarts = state.restartCount;
        l.failedAt = Date.now();
        await this.o.lifecycle.move(l, "failed", "the app exited for good", { failure: `The app exited with code ${state.exitCode} after ${restarts} restart(s). Last log lines:\n${logs}` });
        this.o.log.warn({ id: l.record.id, exitCode: state.exitCode, restarts }, "preview failed");
      } else {
        await this.rearm(l); // Docker restarts it (its back-off): answering again makes it running
      }
    }
  }

  /** Exit code 0, which Docker does not restart: restart it here (bounded), or fail it, saying why. */
  private async onCleanExit(l: Live, state: ContainerState): Promise<void> {
    const d = this.cleanExit.decide(l, state.oomKilled);
    if (!d.restart) {
      const logs = await this.o.tail(l, 30);
      if (l.record.status !== "running" && l.record.status !== "starting") return;
      l.failedAt = Date.now();
      l.phase = undefined;
      await this.o.lifecycle.move(l, "failed", "the app kept exiting with code 0", { failure: `${d.message} Last log lines:\n${logs}` });
      return this.o.log.warn({ id: l.record.id, oomKilled: state.oomKilled }, "preview failed: exits with code 0");
    }
    this.o.log.warn({ id: l.record.id, oomKilled: state.oomKilled }, d.message);
    l.phase = d.message;
    if (l.record.status === "running") await this.o.lifecycle.move(l, "starting", "the app exited with code 0");
    // The runner replays its saved start order; the start event re-arms readiness (rearm above).
    await this.o.runtime.start(state.containerId);
  }

  /** The app restarted: find its port again and watch until it answers (one watch at a time). */
  private async rearm(l: Live): Promise<void> {
    if (!l.record.spec.port) l.port = undefined;
    if (l.record.status === "running") await this.o.lifecycle.move(l, "starting", "the app restarted");
    l.ready = this.o.bringUp.watchReadiness(l);
  }

  /** After a die, Docker needs a moment to mark the container "restarting" (or leave it exited for good). */
  private async settledState(containerId: string): Promise<ContainerState | undefined> {
    let state: ContainerState | undefined;
    for (const wait of [50, 450]) {
      await Bun.sleep(wait);
      state = await this.o.runtime.inspect(containerId);
      if (state && state.status !== "exited") return state;
    }
    return state;
  }
}
