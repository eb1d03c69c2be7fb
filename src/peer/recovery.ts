// When a node dies its previews come back elsewhere, from their stored files
// (their database schemas are untouched: every node shares PostgreSQL).
// Each survivor computes the same owner for each orphan by rendezvous hashing
// over the alive nodes, and the store's conditional move lets exactly one
// take it even if views disagree. A node that returns finds the store gives
// those previews to others and evicts its old copies: no duplicates.
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
}

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
  private readonly startedAt = Date.now();
  private running = false;

  constructor(private readonly o: RecoveryOptions) {}

  start(): void {
    this.timer = setInterval(() => void this.tick(), this.o.intervalMs);
  }

  stop(): void {
    clearInterval(this.timer);
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
    const records = await store.list();
    const owner = new Map(records.map((r) => [r.id, r.node]));
    for (const id of orch.localIds()) {
      if (owner.get(id) === view.self) continue;
      // The list is a snapshot: a preview created here since then is not in it. Ask again for this one.
      const now = await store.get(id);
      if (!now || now.node !== view.self) await orch.evict(id);
    }
    if (Date.now() - this.startedAt < this.o.graceMs) return;
    const candidates = view.nodes().filter((n) => n.state === "alive" && n.free > 0).map((n) => n.id);
    for (const r of records) {
      // Fly and browser previews run on no node of ours: nothing to take over.
      if (r.tier !== "container" || r.node === view.self || !isGone(view, r.node)) continue;
      if (rendezvous(r.id, candidates) !== view.self) continue;
      if (orch.occupied >= orch.capacity) break;
      if (!(await store.claim(r.id, r.node, view.self))) continue;
      log.warn({ id: r.id, from: r.node }, "taking over a preview of a dead node");
      await orch.takeOver({ ...r, node: view.self, status: "starting" }).catch((err) => log.error({ err, id: r.id }, "takeover failed"));
    }
  }
}
