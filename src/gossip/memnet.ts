// An in-memory network: many gossip nodes in one process, with latency,
// packet loss and nodes that can be cut off, so cluster behaviour is tested
// at a size no machine here could run as processes.
import type { Transport } from "./transport.ts";

export interface MemNetOptions {
  latencyMs?: number;
  /** Probability (0..1) that a datagram is lost. */
  loss?: number;
}

export class MemNet {
  private readonly nodes = new Map<string, (from: string, bytes: Uint8Array) => void>();
  private readonly down = new Set<string>();
  sent = 0;
  bytes = 0;

  constructor(private readonly o: MemNetOptions = {}) {}

  transport(addr: string): Transport {
    const net = this;
    return {
      addr,
      send(to, data) {
        net.sent++;
        net.bytes += data.length;
        if (net.down.has(addr) || net.down.has(to)) return;
        if (net.o.loss && Math.random() < net.o.loss) return;
        const copy = data.slice();
        setTimeout(() => net.nodes.get(to)?.(addr, copy), net.o.latencyMs ?? 1);
      },
      onMessage(h) {
        net.nodes.set(addr, h);
      },
      async close() {
        net.nodes.delete(addr);
      },
    };
  }

  /** The node stops sending and receiving (a crash or a partition). */
  cut(addr: string): void {
    this.down.add(addr);
  }

  heal(addr: string): void {
    this.down.delete(addr);
  }
}
