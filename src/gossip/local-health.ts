// Local health (Lifeguard, as memberlist does it): a missing ack may be the
// prober's fault, not the target's. A process that was starved (SIGSTOP, a
// CPU hog, a long GC) finds its timers firing late and the acks of its probes
// unread in the socket; without care it would accuse healthy peers the
// moment it runs again. So each node keeps a local health multiplier (LHM,
// 0..8): it rises when the node misses its own deadlines (a timer fires more
// than an ack timeout late), when its probes fail although the helpers it
// asked did not nack (they could not vouch that the target is the problem),
// and when it must refute a suspicion of itself; each successful probe lowers
// it. Probe interval and ack timeout are stretched by (LHM+1). A probe or a
// suspicion timer that fired late proves nothing and accuses no one.
import type { Logger } from "../log.ts";

/** Lifeguard's bound on the local health multiplier (memberlist's AwarenessMaxMultiplier). */
export const MAX_LOCAL_HEALTH = 8;

export class LocalHealth {
  private lhm = 0;
  /** Timers of ours that fired late (this process was starved): each judged no one. */
  lateTimers = 0;

  constructor(
    /** A timer later than this proves the process was not running. */
    private readonly ackTimeoutMs: number,
    private readonly log: Logger,
  ) {}

  get value(): number {
    return this.lhm;
  }

  scaled(ms: number): number {
    return ms * (this.lhm + 1);
  }

  adjust(delta: number): void {
    const before = this.lhm;
    this.lhm = Math.max(0, Math.min(MAX_LOCAL_HEALTH, this.lhm + delta));
    if (before === 0 && this.lhm > 0) this.log.warn({ localHealth: this.lhm }, "gossip: this node is missing its own deadlines; stretching its probe timeouts");
    else if (before > 0 && this.lhm === 0) this.log.info("gossip: local health back to normal");
  }

  /**
   * True (and the LHM raised) when a timer due at `due` fired more than one
   * ack timeout late: this process was not running (stopped, starved), so
   * what it did not hear meanwhile says nothing about the others.
   */
  checkLate(due: number, what: string): boolean {
    const late = performance.now() - due;
    if (late <= this.ackTimeoutMs) return false;
    this.lateTimers++;
    this.adjust(1);
    this.log.warn({ lateMs: Math.round(late), timer: what, localHealth: this.lhm }, "gossip: a timer fired late (this process was starved); judging no one on it");
    return true;
  }
}
