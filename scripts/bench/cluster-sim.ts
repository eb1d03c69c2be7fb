// A 50-node SWIM cluster simulated in one process (in-memory network, 1 ms
// latency, 1% loss), with the LAN profile's real timings.
//   bun scripts/bench/cluster-sim.ts [nodes=50] [profile=lan|test]
// Reports: time for every node to see a dead node dead, time for a capacity
// change to reach every node, and messages (and bytes) per node per second.
import { lanProfile, testProfile } from "../../src/gossip/profiles.ts";
import { simCluster, within } from "../../test/gossip/support.ts";
import { printTable, round, saveResults } from "./lib.ts";

const n = Number(process.argv[2] ?? 50);
const profile = process.argv[3] === "test" ? testProfile : lanProfile;
const c = simCluster(n, profile, { latencyMs: 1, loss: 0.01 });
const aliveEverywhere = () => c.nodes.every((s) => s.view().filter((m) => m.state === "alive").length === n);

const converge = await within("converge", 120_000, aliveEverywhere);

// steady-state traffic over 10 probe intervals
const sent0 = c.memnet.sent, bytes0 = c.memnet.bytes, t0 = performance.now();
await Bun.sleep(profile.probeIntervalMs * 10);
const secs = (performance.now() - t0) / 1000;
const msgsPerNode = (c.memnet.sent - sent0) / n / secs;
const bytesPerNode = (c.memnet.bytes - bytes0) / n / secs;

c.nodes[5]!.setMeta({ capacity: 100, running: 37, free: 63 });
const spread = await within("capacity spread", 120_000, () => c.nodes.every((s) => s.view().find((m) => m.id === "n5")!.meta.free === 63));

c.memnet.cut(c.addr(9));
const firstSeen = within("first suspicion", 120_000, () => c.nodes.some((s, i) => i !== 9 && c.stateOf(s, "n9") !== "alive"));
const allDead = await within("dead everywhere", 120_000, () => c.nodes.every((s, i) => i === 9 || c.stateOf(s, "n9") === "dead"));
const suspected = await firstSeen;
await c.stop();

const profileName = profile === lanProfile ? "lan" : "test";
printTable(`SWIM, ${n} nodes simulated, ${profileName} profile (probe ${profile.probeIntervalMs} ms), 1% loss`, [
  { measure: "join: all alive everywhere", value: `${round(converge / 1000, 2)} s` },
  { measure: "failure: first suspicion", value: `${round(suspected / 1000, 2)} s` },
  { measure: "failure: dead on every node", value: `${round(allDead / 1000, 2)} s` },
  { measure: "capacity change on every node", value: `${round(spread / 1000, 2)} s` },
  { measure: "messages per node per second", value: round(msgsPerNode, 1) },
  { measure: "bytes per node per second", value: Math.round(bytesPerNode) },
]);
saveResults(`cluster-sim-${profileName}`, { nodes: n, convergeMs: round(converge), firstSuspicionMs: round(suspected), deadEverywhereMs: round(allDead), capacitySpreadMs: round(spread), msgsPerNodePerSec: round(msgsPerNode), bytesPerNodePerSec: Math.round(bytesPerNode) });
process.exit(0);
