// What peer/ needs from cluster membership. The gossip module implements it
// (adapted in daemon.ts); a single node without peers uses soloView.
import type { NodeView } from "../types.ts";

/** This node's memory as placement counts it (orchestrator/memory.ts); undefined: capacity by count only. */
export type MemoryStats = { totalBytes: number; freeBytes: number; slots: number } | undefined;

/** Room by count, and by memory where it is counted: the smaller. */
export const roomOf = (capacity: number, running: number, memory: MemoryStats) => Math.max(0, Math.min(capacity - running, memory ? memory.slots : Infinity));

export interface ClusterView {
  readonly self: string;
  /** Every known node, this one included. */
  nodes(): NodeView[];
  /** host:port of a node's peer listener (HTTP over TCP), if known. */
  addrOf(node: string): string | undefined;
  /** Where a new preview should go (reserving a slot there), or null when the cluster is full. */
  place(): { node: string; release(): void } | null;
}

export function soloView(self: NodeView & { addr: string }, stats: () => { capacity: number; running: number; memory?: MemoryStats }): ClusterView {
  return {
    self: self.id,
    nodes: () => {
      const { capacity, running, memory } = stats();
      return [{ ...self, capacity, running, free: roomOf(capacity, running, memory), ...(memory && { memory: { total: memory.totalBytes, free: memory.freeBytes } }) }];
    },
    addrOf: (node) => (node === self.id ? self.addr : undefined),
    place: () => {
      const { capacity, running, memory } = stats();
      return roomOf(capacity, running, memory) > 0 ? { node: self.id, release: () => {} } : null;
    },
  };
}

/** A node counts as gone when the view has it dead or does not know it at all. */
export function isGone(view: ClusterView, node: string): boolean {
  if (node === view.self) return false;
  const n = view.nodes().find((x) => x.id === node);
  return !n || n.state === "dead";
}
