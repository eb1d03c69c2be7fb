// The one place a preview's status changes, one per node. Every tier
// (container, Fly, browser) and every policy (bring-up, idle, health, drift,
// resync, fencing, limits) moves a preview with `move()`, which checks the
// move against the table in states.ts, changes the record in memory, lets
// the preview's tier react at once (the container tier re-publishes the
// proxy's routes and renews the idle clock; Fly closes the seconds of the
// state it leaves), writes the store, and tells the listeners (metrics). `queue()` runs one operation at a time per
// preview, in arrival order, for every operation that reads a status and
// then acts on it (postgres.js's queues are the model: a connection's state
// is which queue it is in, and one function moves it).
import type { Logger } from "../log.ts";
import type { RecordPatch } from "../orchestrator/ports.ts";
import type { PreviewRecord, PreviewStatus, Tier } from "../types.ts";
import { canMove, IllegalTransition } from "./states.ts";

export { ACTIVE, canMove, IllegalTransition, OCCUPYING, STATUSES, TRANSITIONS } from "./states.ts";

/** Anything that carries a preview's record (the container tier's live entry, or the record itself). */
export interface Subject {
  record: PreviewRecord;
}

export interface Transition {
  id: string;
  from: PreviewStatus | undefined;
  to: PreviewStatus;
  reason: string;
  at: Date;
  failure?: string;
}

export interface MoveOptions {
  /** Why it failed (moves to failed): shown as the preview's error. */
  failure?: string;
  /** Other fields written with the status in the same store update. */
  patch?: RecordPatch;
  /**
   * Work done after the status changed in memory (so routing already follows
   * it) and before it is written: a pause must not be routed to while it
   * freezes. Returning false calls the move off and throwing undoes it: the
   * status goes back, nothing is written.
   */
  during?: () => Promise<boolean | void>;
}

export interface LifecycleOptions {
  store: { update(id: string, patch: RecordPatch): Promise<void>; insert(record: PreviewRecord & { containerId?: string }): Promise<void> };
  log: Logger;
}

/** A tier's reaction to a move of one of its previews, before the store write; `from` undefined: a new preview. */
export type Reaction = (s: Subject, from: PreviewStatus | undefined, to: PreviewStatus) => void;

export type TransitionListener = (t: Transition & { tier: Tier }) => void;

export class Lifecycle {
  private readonly listeners = new Set<TransitionListener>();
  private readonly reactions = new Map<Tier, Reaction>();
  /** The tail of each preview's queue. */
  private readonly tails = new Map<string, Promise<unknown>>();

  constructor(private readonly o: LifecycleOptions) {}

  /** How a tier reacts to the moves of its previews (one reaction per tier). */
  react(tier: Tier, reaction: Reaction): void {
    if (this.reactions.has(tier)) throw new Error(`the ${tier} tier already reacts to moves`);
    this.reactions.set(tier, reaction);
  }

  /** Told of every move (and every new preview) after it is written. Returns the unsubscribe. */
  on(listener: TransitionListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** A new preview: its first status is written with its record. */
  async insert(s: Subject, extra: { containerId?: string } = {}, reason = "created"): Promise<void> {
    const to = s.record.status;
    if (to !== "installing" && to !== "starting") throw new IllegalTransition(s.record.id, to, to, `a new preview starts installing or starting, not ${to}`);
    await this.o.store.insert({ ...s.record, ...extra });
    this.reactions.get(s.record.tier)?.(s, undefined, to);
    this.tell({ id: s.record.id, tier: s.record.tier, from: undefined, to, reason, at: new Date() });
  }

  /**
   * Moves a preview to `to`. Throws IllegalTransition (and changes nothing)
   * when the table does not allow it; see MoveOptions for `during`. Resolves
   * true once written, false when `during` called it off.
   */
  async move(s: Subject, to: PreviewStatus, reason: string, opts: MoveOptions = {}): Promise<boolean> {
    const r = s.record;
    const from = r.status;
    if (!canMove(from, to)) throw new IllegalTransition(r.id, from, to, reason);
    // Already there, with nothing new to say: nothing to write, nobody to tell.
    if (from === to && opts.failure === undefined && !opts.patch && !opts.during) return true;
    const failureBefore = r.failure;
    const sleepBefore = r.sleep;
    r.status = to;
    const patch: RecordPatch = { ...opts.patch, status: to };
    // The sleep stage lives only while suspended: a container preview goes to sleep frozen (its memory in RAM),
    // the idle policy may then mark it reclaimed (same status, patch { sleep }); any move out of suspended clears it.
    if (to === "suspended" && r.tier === "container" && patch.sleep === undefined && from !== "suspended") patch.sleep = "frozen";
    if (to !== "suspended" && (r.sleep !== undefined || patch.sleep)) patch.sleep = null;
    if (patch.sleep !== undefined) r.sleep = patch.sleep ?? undefined;
    if (to === "failed") {
      r.failure = opts.failure ?? r.failure ?? reason;
      patch.failure = r.failure;
    } else if (r.failure !== undefined) {
      r.failure = undefined; // up again: the old error no longer describes it
      patch.failure = null;
    }
    if (from !== to) this.reactions.get(r.tier)?.(s, from, to);
    if (opts.during) {
      let go: boolean | void;
      try {
        go = await opts.during();
      } catch (err) {
        this.undo(s, from, to, failureBefore, sleepBefore);
        throw err;
      }
      if (go === false) {
        this.undo(s, from, to, failureBefore, sleepBefore);
        return false;
      }
    }
    await this.o.store.update(r.id, patch);
    this.tell({ id: r.id, tier: r.tier, from, to, reason, at: new Date(), ...(to === "failed" && { failure: r.failure }) });
    return true;
  }

  /** A status with no store behind it yet written again (the store was away at the move): writes it now. */
  persist(s: Subject): Promise<void> {
    return this.o.store.update(s.record.id, { status: s.record.status, failure: s.record.failure ?? null, sleep: s.record.sleep ?? null });
  }

  /**
   * Runs `fn` once every operation queued before it on this preview has
   * settled (whatever their outcome). Operations of different previews run
   * side by side.
   */
  queue<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const before = this.tails.get(id) ?? Promise.resolve();
    const run = before.catch(() => {}).then(fn);
    const tail = run.catch(() => {});
    this.tails.set(id, tail);
    void tail.then(() => {
      if (this.tails.get(id) === tail) this.tails.delete(id);
    });
    return run;
  }

  /** Operations queued or running, by preview (for tests and the metrics' view of a busy node). */
  get queued(): number {
    return this.tails.size;
  }

  private undo(s: Subject, from: PreviewStatus, to: PreviewStatus, failure: string | undefined, sleep: PreviewRecord["sleep"]): void {
    s.record.status = from;
    s.record.failure = failure;
    s.record.sleep = sleep;
    if (from !== to) this.reactions.get(s.record.tier)?.(s, to, from);
  }

  private tell(t: Transition & { tier: Tier }): void {
    for (const l of this.listeners) {
      try {
        l(t);
      } catch (err) {
        this.o.log.warn({ err, id: t.id }, "a lifecycle listener failed");
      }
    }
  }
}
