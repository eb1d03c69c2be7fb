// What peer/ needs from cluster membership. The gossip module implements it
// (adapted in daemon.ts); a single node without peers uses soloView.
import type { NodeView } from "../types.ts";

export interface ClusterView {
  readonly self: string;
  /** Every known node, this one included. */
  nodes(): NodeView[];
  /** host:port of a node's peer listener (HTTP over TCP), if known. */
  addrOf(node: string): string | undefined;
  /** Where a new preview should go (reserving a slot there), or null when the cluster is full. */
  place(): { node: string; release(): void } | null;
}

export function soloView(self: NodeView & { addr: string }, stats: () => { capacity: number; running: number }): ClusterView {
  return {
    self: self.id,
    nodes: () => {
      const { capacity, running } = stats();
      return [{ ...self, capacity, running, free: Math.max(0, capacity - running) }];
    },
    addrOf: (node) => (node === self.id ? self.addr : undefined),
    place: () => {
      const { capacity, running } = stats();
      return running < capacity ? { node: self.id, release: () => {} } : null;
    },
  };
}

/** A node counts as gone when the view has it dead or does not know it at all. */
export function isGone(view: ClusterView, node: string): boolean {
  if (node === view.self) return false;
  const n = view.nodes().find((x) => x.id === node);
  return !n || n.state === "dead";
}
