// Adapter from the gossip module to ClusterView. (Placeholder until cluster/ lands.)
import type { Config } from "../config.ts";
import type { Logger } from "../log.ts";
import type { ClusterView } from "./view.ts";

export interface MembershipHandle {
  view: ClusterView;
  graceMs: number;
  stop(): Promise<void>;
}

export async function startMembership(_o: { config: Config; peerPort: number; capacity: number; running: () => number; log: Logger }): Promise<MembershipHandle> {
  throw new Error("gossip membership is not wired yet");
}
