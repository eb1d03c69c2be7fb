// How gossip messages travel. The membership code sees only this interface;
// udp.ts is the real network, memnet.ts an in-memory one for large simulated
// clusters inside one test process.
export interface Transport {
  /** host:port others reach this node at. */
  readonly addr: string;
  /** Datagrams the transport itself refused, by reason (udp.ts: misaddressed, forged routes). */
  readonly dropped?: Record<string, number>;
  send(to: string, bytes: Uint8Array): void;
  onMessage(handler: (from: string, bytes: Uint8Array) => void): void;
  close(): Promise<void>;
}
