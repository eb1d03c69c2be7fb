// Timing profiles, as memberlist names them. Detection time is about
// probeInterval (to pick the dead node, on average n/2 probes away in the
// round-robin, but any member probing it counts) + suspicion timeout.
export interface Profile {
  /** How often each node probes one member. */
  probeIntervalMs: number;
  /** How long a direct ping waits for its ack before asking others. */
  ackTimeoutMs: number;
  /** Members asked to probe on our behalf when the direct ping fails. */
  indirectChecks: number;
  /** Suspicion lasts mult * log10(n+1) probe intervals before a suspect is dead. */
  suspicionMult: number;
  /** An update is piggybacked mult * ceil(log10(n+1)) times. */
  retransmitMult: number;
  /** Full-state exchange with one random member, so joiners and healed partitions converge. */
  pushPullIntervalMs: number;
  /** Dead members are forgotten after this long (shown as dead until then). */
  reapAfterMs: number;
}

/** LAN (memberlist's DefaultLANConfig): a few seconds to detect a death, little traffic. */
export const lanProfile: Profile = {
  probeIntervalMs: 1000,
  ackTimeoutMs: 500,
  indirectChecks: 3,
  suspicionMult: 4,
  retransmitMult: 4,
  pushPullIntervalMs: 15_000,
  reapAfterMs: 10 * 60_000,
};

/** Tests and loopback clusters: ten times faster, so a death is seen in about a second. */
export const testProfile: Profile = {
  probeIntervalMs: 100,
  ackTimeoutMs: 50,
  indirectChecks: 3,
  suspicionMult: 4,
  retransmitMult: 4,
  pushPullIntervalMs: 1000,
  reapAfterMs: 60_000,
};

/**
 * Several real daemons on one machine (loopback clusters, the test suite):
 * between LAN and test. Separate processes on a busy 2-core machine stall for
 * hundreds of milliseconds (a container start, a GC, an install next door);
 * the test profile's 50 ms ack and ~0.3 s suspicion then declare live nodes
 * dead. Here a node must miss acks for about 2 s before it is dead.
 */
export const localProfile: Profile = {
  probeIntervalMs: 300,
  ackTimeoutMs: 300,
  indirectChecks: 3,
  suspicionMult: 5,
  retransmitMult: 4,
  pushPullIntervalMs: 2000,
  reapAfterMs: 60_000,
};
