// Self-fencing: a node that can reach neither the shared database nor some of
// its siblings may be the one the others take for dead, and they take a dead
// node's previews over once its heartbeat is stale (peer/recovery.ts). Before
// that can happen it stops serving them itself: the proxy refuses their
// requests (503, node_isolated) and their containers are paused (no app keeps
// working on a copy that another node may be starting afresh). When it reaches
// the database again, the previews given away meanwhile are evicted and the
// rest resume with their memory. The decision is recovery's; this is the act.
import type { Logger } from "../log.ts";
import { ACTIVE, type Lifecycle } from "../lifecycle/index.ts";
import type { ContainerEngine } from "../pool/index.ts";
import type { Live } from "./live.ts";

/** resolve() of a fenced node: the proxy answers 503 node_isolated. */
export class NodeFencedError extends Error {
  constructor(readonly node: string) {
    super(`Node ${node} has lost contact with the cluster's database and with some of its peers: it serves no preview until it is back.`);
  }
}

export class Fencing {
  /** Fenced since (ms), or undefined. */
  private since?: number;
  /** Containers this fence paused, by preview: exactly these resume when it lifts. */
  private readonly paused = new Map<string, string>();

  constructor(private readonly o: { runtime: Pick<ContainerEngine, "pause" | "unpause">; lifecycle: Lifecycle; log: Logger }) {}

  get active(): boolean {
    return this.since !== undefined;
  }

  /** Refuses requests at once, then pauses every active preview's container. Idempotent. */
  async engage(lives: Live[], why: Record<string, unknown>): Promise<void> {
    if (this.active) return;
    this.since = Date.now();
    this.o.log.error(why, "fenced: no database and peers unreachable; this node stops serving its previews before others may take them over");
    await Promise.all(
      lives.map(async (l) => {
        const cid = l.container?.containerId;
        if (!cid || !ACTIVE.has(l.record.status)) return;
        await this.o.lifecycle.queue(l.record.id, () => this.o.runtime.pause(cid))
          .then(() => this.paused.set(l.record.id, cid))
          .catch((err) => this.o.log.warn({ err, id: l.record.id }, "fence could not pause a preview's container"));
      }),
    );
  }

  /** Resumes what the fence paused and still runs here (the caller evicted what was given away). */
  async release(liveOf: (id: string) => Live | undefined): Promise<void> {
    if (!this.active) return;
    const resumed: string[] = [];
    await Promise.all(
      [...this.paused].map(async ([id, cid]) => {
        const l = liveOf(id);
        if (!l || l.container?.containerId !== cid || !ACTIVE.has(l.record.status)) return;
        await this.o.lifecycle.queue(id, () => this.o.runtime.unpause(cid))
          .then(() => resumed.push(id))
          .catch((err) => this.o.log.warn({ err, id }, "could not resume a preview's container after the fence"));
      }),
    );
    this.o.log.warn({ fencedMs: Date.now() - this.since!, paused: this.paused.size, resumed: resumed.length }, "fence lifted: database reachable again");
    this.paused.clear();
    this.since = undefined;
  }
}
