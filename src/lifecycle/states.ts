// A preview's states and the moves between them, for every tier (container,
// Fly, browser). This table is the one place that says which status may
// follow which; `Lifecycle.move` refuses anything else, so a policy that
// would, say, wake a deleted preview fails loudly instead of resurrecting it.
//
//   installing ─▶ starting ─▶ running ◀──▶ suspended ─▶ stopped
//        ▲  │         ▲  │      │  ▲          │  ▲          │
//        │  └─────────┼──┼──────┘  └──────────┘  └── wake ──┘ (stopped ─▶ starting)
//        └── new dependencies (running, starting, suspended, failed)
//   any state but deleted ─▶ failed;   any state ─▶ deleted (final)
//
// Moving to the state a preview is already in is allowed: it writes only the
// fields that come with it (a new failure text), and nothing at all when none do.
import type { PreviewStatus } from "../types.ts";

export const STATUSES: readonly PreviewStatus[] = ["installing", "starting", "running", "suspended", "stopped", "failed", "deleted"];

/** For each status, the statuses a preview may move to from it. */
export const TRANSITIONS: Readonly<Record<PreviewStatus, readonly PreviewStatus[]>> = {
  // The install finished (starting) or did not (failed).
  // A fence paused it mid-install and the daemon restarted (suspended).
  installing: ["starting", "suspended", "failed", "deleted"],
  // The app answered (running) or never did (failed); new dependencies (installing); idle or fenced before it
  // answered (suspended); a browser-tier build or a Fly machine is "starting" too.
  starting: ["running", "installing", "suspended", "stopped", "failed", "deleted"],
  // A crash Docker restarts, a restart in place, a new Fly machine (starting); new dependencies (installing);
  // the idle policy (suspended); a limit enforced outside (failed).
  running: ["starting", "installing", "suspended", "failed", "deleted"],
  // Woken (running: memory kept); the second idle stage (stopped); re-created from its files, or a new
  // Fly machine (starting); new dependencies after a wake (installing).
  suspended: ["running", "starting", "installing", "stopped", "failed", "deleted"],
  // Woken from its disk (starting), or Fly's edge started the machine itself (running).
  stopped: ["starting", "running", "failed", "deleted"],
  // Undone after an engine outage or rebuilt (starting), new dependencies (installing).
  failed: ["starting", "installing", "deleted"],
  deleted: [],
};

export class IllegalTransition extends Error {
  readonly code = "illegal_transition";
  constructor(
    readonly id: string,
    readonly from: PreviewStatus,
    readonly to: PreviewStatus,
    readonly reason: string,
  ) {
    super(`Preview ${id} cannot go from ${from} to ${to} (${reason}).`);
  }
}

export function canMove(from: PreviewStatus, to: PreviewStatus): boolean {
  return from === to ? from !== "deleted" : TRANSITIONS[from].includes(to);
}

/** Statuses that hold a slot on the node that runs the preview (memory is held while suspended). */
export const OCCUPYING: ReadonlySet<PreviewStatus> = new Set(["installing", "starting", "running", "suspended"]);

/** Statuses whose container runs an app (a suspended or stopped one is still). */
export const ACTIVE: ReadonlySet<PreviewStatus> = new Set(["installing", "starting", "running"]);
