// `previewd drain`: empties this node before a planned removal. Creates are
// refused here from the first moment (the orchestrator says no_capacity, so
// routers place elsewhere, and gossip shows no room, so siblings stop
// picking it). Each preview then moves, one at a time: the store's
// conditional move names the new node, the container here is removed, and
// the new node re-creates the preview from its stored files (its database
// schema is shared, so nothing to copy). Break before make: the preview
// never runs on two nodes, at the cost of a cold start on the new one.
// When nothing runs here any more, it is safe to power the node off.
import type { Logger } from "../log.ts";
import type { Orchestrator, PreviewStore } from "../orchestrator/index.ts";
import type { PeerClient } from "./client.ts";
import type { ClusterView } from "./view.ts";

/** The peer-only call a draining node makes on the preview's new node. */
export const TAKEOVER_PATH = "/v1/peer/takeover/";

export interface DrainStatus {
  node: string;
  draining: boolean;
  /** Previews still on this node. */
  remaining: number;
  /** Moved so far, to which node. */
  moved: Array<{ id: string; to: string }>;
  /** Why the last attempt to move a preview failed (it is retried). */
  problems: Array<{ id: string; error: string }>;
  /** Draining, and nothing of ours runs here any more. */
  safeToPowerOff: boolean;
}

export interface DrainOptions {
  view: ClusterView;
  store: PreviewStore;
  orch: Orchestrator;
  peers: PeerClient;
  log: Logger;
  /** Pause between passes while some preview could not move (no room anywhere yet). */
  retryMs?: number;
}

export class Drainer {
  private started = false;
  private loop?: Promise<void>;
  private readonly moved: Array<{ id: string; to: string }> = [];
  private readonly problems = new Map<string, string>();
  /** Records naming this node that it does not run (counted at the last look). */
  private storedOnly = 0;

  constructor(private readonly o: DrainOptions) {}

  get draining(): boolean {
    return this.started;
  }

  /** Starts draining (idempotent) and answers the status at once. */
  start(): DrainStatus {
    if (!this.started) {
      this.started = true;
      this.o.orch.draining = true;
      this.o.log.warn({ node: this.o.view.self }, "draining: refusing creates, moving previews to other nodes");
    }
    this.loop ??= this.run().finally(() => (this.loop = undefined));
    return this.status();
  }

  status(): DrainStatus {
    const remaining = this.o.orch.localIds().length + this.storedOnly;
    return {
      node: this.o.view.self,
      draining: this.started,
      remaining,
      moved: [...this.moved],
      problems: [...this.problems].map(([id, error]) => ({ id, error })),
      safeToPowerOff: this.started && remaining === 0 && !this.loop,
    };
  }

  /**
   * What is still this node's: the previews it runs, and records that name it
   * without running here (one whose start failed, or that it had not adopted
   * yet): a drained node must leave nothing the store gives to it.
   */
  private async pending(): Promise<string[]> {
    const stored = (await this.o.store.listByNode(this.o.view.self)).filter((r) => r.tier === "container").map((r) => r.id);
    const live = this.o.orch.localIds();
    this.storedOnly = stored.filter((id) => !live.includes(id)).length;
    return [...new Set([...live, ...stored])];
  }

  private async run(): Promise<void> {
    for (;;) {
      const ids = await this.pending();
      if (ids.length === 0) break;
      for (const id of ids) {
        try {
          await this.moveOne(id);
          this.problems.delete(id);
        } catch (err) {
          this.problems.set(id, (err as Error).message);
          this.o.log.warn({ err, id }, "drain: could not move a preview yet");
        }
      }
      if ((await this.pending()).length) await Bun.sleep(this.o.retryMs ?? 1000);
    }
    this.o.log.warn({ node: this.o.view.self, moved: this.moved.length }, "drained: no previews left, safe to power off");
  }

  /** Alive siblings by room, most first. */
  private targets(): string[] {
    return this.o.view.nodes()
      .filter((n) => n.id !== this.o.view.self && n.state === "alive" && n.free > 0)
      .sort((a, b) => b.free - a.free)
      .map((n) => n.id);
  }

  private async moveOne(id: string): Promise<void> {
    const { store, orch, view, peers, log } = this.o;
    const record = await store.get(id);
    if (!record || record.node !== view.self) {
      await orch.evict(id); // no longer ours (deleted, or moved by someone else): nothing to move
      return;
    }
    const targets = this.targets();
    if (targets.length === 0) throw new Error("no other alive node has room");
    // The store names the first target before anything stops here: a sibling's recovery never sees it orphaned.
    let owner = view.self;
    for (const to of targets) {
      if (!(await store.claim(id, owner, to))) throw new Error("the preview's record changed under the drain");
      if (owner === view.self) await orch.evict(id);
      owner = to;
      try {
        await peers.call(to, "POST", `${TAKEOVER_PATH}${id}`);
        this.moved.push({ id, to });
        log.info({ id, to }, "drain: preview moved");
        return;
      } catch (err) {
        log.info({ id, to, err: (err as Error).message }, "drain: node refused the preview; trying the next");
      }
    }
    // Every sibling refused: bring it back here (it keeps answering) and try again on the next pass.
    if (await store.claim(id, owner, view.self)) await orch.takeOver({ ...record, node: view.self, status: "starting" });
    throw new Error("every alive node refused the preview (full?)");
  }
}

/**
 * The new node's side of a move (peer listener only): runs the preview the
 * store now gives it, from its stored files. Refused when the node is full
 * or draining itself; the draining node then tries another.
 */
export async function acceptTakeover(o: { orch: Orchestrator; store: PreviewStore; self: string }, id: string): Promise<Response> {
  const r = await o.store.get(id);
  if (!r || r.node !== o.self) return Response.json({ error: { code: "conflict", message: `The store does not give preview ${id} to ${o.self}.` } }, { status: 409 });
  if (o.orch.has(id)) return Response.json({ id, node: o.self });
  if (o.orch.draining || o.orch.occupied >= o.orch.capacity) {
    return Response.json({ error: { code: "no_capacity", message: `Node ${o.self} has no room (or is draining).` } }, { status: 503 });
  }
  if (r.status === "failed") o.orch.adopt({ ...r, spec: { ...r.spec, files: {} } }); // it stays failed; nothing to run
  else await o.orch.takeOver({ ...r, status: "starting" });
  return Response.json({ id, node: o.self });
}
