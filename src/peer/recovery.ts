// When a node dies its previews come back elsewhere, from their stored files
// (their database schemas are untouched: every node shares PostgreSQL).
// Each survivor computes the same owner for each orphan by rendezvous hashing
// over the alive nodes, and the store's conditional move lets exactly one
// take it even if views disagree. A node that returns finds the store gives
// those previews to others and evicts its old copies: no duplicates.
//
// Gossip cannot tell a dead node from one behind a network split: each side
// takes the other for dead. The shared PostgreSQL decides: every node writes
// a heartbeat there each second, and an orphan is taken only once its node's
// heartbeat is older than `staleMs`. In a split where both sides still reach
// the database nothing moves, so no preview runs on both sides.
//
// A node cut off from both (its network is gone, but its users may still
// reach it) would serve its copies while a sibling starts new ones. So it
// fences itself first: once its heartbeat has failed for FENCE_AFTER_MS, well
// inside STALE_AFTER_MS, while some peer is unreachable in its view, it stops
// serving its previews (orchestrator/fencing.ts). A database outage with the
// peers all in sight fences nothing (no sibling could claim anything either).
// When a heartbeat is written again it evicts what was taken and resumes the rest.
import { createHash } from "node:crypto";
import type { Logger } from "../log.ts";
import type { Orchestrator, PreviewStore } from "../orchestrator/index.ts";
import { isGone, type ClusterView } from "./view.ts";

export interface RecoveryOptions {
  view: ClusterView;
  store: PreviewStore;
  orch: Orchestrator;
  log: Logger;
  /** How often to look (ms). */
  intervalMs: number;
  /** No takeovers this soon after start: gossip needs a moment to know who is alive. */
  graceMs: number;
  /** A node whose heartbeat in the store is younger than this keeps its previews, even if gossip says dead. */
  staleMs?: number;
}

/** Heartbeats every second; a node is stale after this many missed ones (a busy database or machine may skip a few). */
export const HEARTBEAT_MS = 1000;
export const STALE_AFTER_MS = 4000;
/** A node fences itself this long after its last heartbeat written: 2 s before any sibling may claim its previews. */
export const FENCE_AFTER_MS = 2000;
const FENCE_CHECK_MS = 250;

/** Highest-random-weight choice: stable, and spreads one node's orphans over all survivors. */
export function rendezvous(id: string, nodes: string[]): string | undefined {
  let best: string | undefined;
  let bestScore = "";
  for (const n of nodes) {
    const score = createHash("sha1").update(`${id}\0${n}`).digest("hex");
    if (score > bestScore) [best, bestScore] = [n, score];
  }
  return best;
}

export class Recovery {
  private timer?: ReturnType<typeof setInterval>;
  private beatTimer?: ReturnType<typeof setInterval>;
  private beatFailing = false;
  private fenceTimer?: ReturnType<typeof setInterval>;
  /** When the last heartbeat was written (monotonic ms). */
  private lastBeat = performance.now();
  private readonly startedAt = Date.now();
  private running = false;

  constructor(private readonly o: RecoveryOptions) {}

  start(): void {
    this.timer = setInterval(() => void this.tick(), this.o.intervalMs);
    // Its own timer: a pass that waits on a takeover's container start must not let the heartbeat go stale.
    void this.beat();
    this.beatTimer = setInterval(() => void this.beat(), HEARTBEAT_MS);
    this.fenceTimer = setInterval(() => void this.checkFence(), FENCE_CHECK_MS);
  }

  stop(): void {
    clearInterval(this.timer);
    clearInterval(this.beatTimer);
    clearInterval(this.fenceTimer);
  }

  private async beat(): Promise<void> {
    try {
      await this.o.store.beat?.(this.o.view.self);
      this.lastBeat = performance.now();
      if (this.beatFailing) this.o.log.info("heartbeat written again");
      this.beatFailing = false;
      if (this.o.orch.fenced) await this.unfence();
    } catch (err) {
      // Once per outage (the database outage is logged elsewhere); siblings take over only if gossip agrees.
      if (!this.beatFailing) this.o.log.warn({ err }, "heartbeat not written");
      this.beatFailing = true;
    }
  }

  /** Fences this node when it can no longer prove it is alive and some peer may already think it dead. */
  private async checkFence(): Promise<void> {
    const silentMs = performance.now() - this.lastBeat;
    if (this.o.orch.fenced || silentMs < FENCE_AFTER_MS) return;
    const unreachable = this.o.view.nodes().filter((n) => n.id !== this.o.view.self && (n.state === "suspect" || n.state === "dead"));
    if (unreachable.length === 0) return;
    await this.o.orch.fence({ silentMs: Math.round(silentMs), unreachable: unreachable.map((n) => `${n.id} (${n.state})`) });
  }

  /** The database is back: previews claimed meanwhile go (they run elsewhere now), the others serve again. */
  private async unfence(): Promise<void> {
    try {
      await this.evictLost();
    } catch (err) {
      return this.o.log.warn({ err }, "fence kept: could not check which previews this node still owns"); // next beat tries again
    }
    await this.o.orch.unfence();
  }

  async tick(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      await this.pass();
    } catch (err) {
      this.o.log.warn({ err }, "recovery pass failed");
    } finally {
      this.running = false;
    }
  }

  private async pass(): Promise<void> {
    const { view, store, orch, log } = this.o;
    const records = await this.evictLost();
    if (Date.now() - this.startedAt < this.o.graceMs || orch.fenced) return;
    const candidates = view.nodes().filter((n) => n.state === "alive" && n.free > 0).map((n) => n.id);
    for (const r of records) {
      // Fly and browser previews run on no node of ours: nothing to take over.
      if (r.tier !== "container" || r.node === view.self || !isGone(view, r.node)) continue;
      if (rendezvous(r.id, candidates) !== view.self) continue;
      if (orch.occupied >= orch.capacity) break;
      if (!(await store.claim(r.id, r.node, view.self, this.o.staleMs ?? STALE_AFTER_MS))) continue;
      log.warn({ id: r.id, from: r.node }, "taking over a preview of a dead node");
      await orch.takeOver({ ...r, node: view.self, status: "starting" }).catch((err) => log.error({ err, id: r.id }, "takeover failed"));
    }
  }

  /** Evicts the previews here that the store gives to another node (or no longer has); returns the records read. */
  private async evictLost() {
    const { view, store, orch } = this.o;
    const records = await store.list();
    const owner = new Map(records.map((r) => [r.id, r.node]));
    for (const id of orch.localIds()) {
      if (owner.get(id) === view.self) continue;
      // The list is a snapshot: a preview created here since then is not in it. Ask again for this one.
      const now = await store.get(id);
      if (!now || now.node !== view.self) await orch.evict(id);
    }
    return records;
  }
}
