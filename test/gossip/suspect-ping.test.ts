// A suspect must hear that it is suspected even after the rumour's
// retransmits are spent: the prober's ping to a suspect carries the suspicion
// (memberlist's compound ping+suspect), so a node cut off just long enough to
// be suspected refutes as soon as it is reachable, not never.
import { afterEach, expect, test } from "bun:test";
import type { Profile } from "../../src/gossip/profiles.ts";
import { simCluster, within } from "./support.ts";

// Rumours sent once, no full-state sync during the test, and a long suspicion (4 s): the only way the
// healed node can learn it is suspected in time is the ping that probes it.
const profile: Profile = {
  probeIntervalMs: 100,
  ackTimeoutMs: 50,
  indirectChecks: 2,
  suspicionMult: 40,
  retransmitMult: 1,
  pushPullIntervalMs: 600_000,
  reapAfterMs: 60_000,
};

let c: ReturnType<typeof simCluster> | undefined;
afterEach(() => c?.stop());

test("a suspect whose rumour was spent while it was cut off refutes from the probe's ping", async () => {
  c = simCluster(3, profile, { latencyMs: 1 });
  const cluster = c;
  await within("3 nodes converge", 5000, () => cluster.nodes.every((s) => s.view().filter((m) => m.state === "alive").length === 3));
  const before = cluster.nodes[0]!.view().find((m) => m.id === "n2")!.incarnation;
  cluster.memnet.cut(cluster.addr(2));
  await within("both others suspect n2", 3000, () => [0, 1].every((i) => cluster.stateOf(cluster.nodes[i]!, "n2") === "suspect"));
  // Let every retransmit of the suspicion go out (and be lost) while n2 is still cut off.
  await Bun.sleep(400);
  cluster.memnet.heal(cluster.addr(2));
  const ms = await within("n2 alive again everywhere, well before its 4 s suspicion ends", 2000, () =>
    cluster.nodes.every((s) => s.view().every((m) => m.state === "alive")),
  );
  console.log(`healed suspect refuted in ${ms.toFixed(0)} ms`);
  expect(cluster.nodes[0]!.view().find((m) => m.id === "n2")!.incarnation).toBeGreaterThan(before);
});
