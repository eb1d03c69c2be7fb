// SWIM membership on a simulated 50-node network (1% packet loss): the
// cluster converges, a dead node is seen dead by all within a bound, a
// capacity change reaches everyone, a false suspicion is refuted, and a node
// with the wrong secret never joins.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { testProfile } from "../../src/gossip/profiles.ts";
import { simCluster, within } from "./support.ts";

const N = 50;
let c: ReturnType<typeof simCluster>;

beforeAll(async () => {
  c = simCluster(N, testProfile, { latencyMs: 1, loss: 0.01 });
  await within("50 nodes converge", 10_000, () => c.nodes.every((s) => s.view().filter((m) => m.state === "alive").length === N));
});
afterAll(() => c?.stop());

test("every node knows all 50 as alive", () => {
  for (const s of c.nodes) expect(s.view().filter((m) => m.state === "alive")).toHaveLength(N);
});

test("a capacity change reaches every node", async () => {
  c.nodes[7]!.setMeta({ capacity: 100, running: 42, free: 58 });
  const ms = await within("meta spread", 5000, () => c.nodes.every((s) => s.view().find((m) => m.id === "n7")!.meta.free === 58));
  console.log(`capacity change reached all ${N} nodes in ${ms.toFixed(0)} ms`);
});

test("a node cut off briefly is suspected, then refutes and is alive again everywhere", async () => {
  const victim = c.nodes[11]!;
  const before = c.nodes[0]!.view().find((m) => m.id === "n11")!.incarnation;
  c.memnet.cut(c.addr(11));
  await within("someone suspects n11", 3000, () => c.nodes.some((s) => c.stateOf(s, "n11") === "suspect"));
  c.memnet.heal(c.addr(11));
  await within("n11 alive everywhere", 5000, () => c.nodes.every((s) => c.stateOf(s, "n11") === "alive"));
  expect(c.nodes[0]!.view().find((m) => m.id === "n11")!.incarnation).toBeGreaterThan(before);
  // while cut off it suspected the others in turn; they refute too, and its view heals
  await within("n11 sees all alive", 5000, () => victim.view().filter((m) => m.state === "alive").length === N);
});

test("a dead node is marked dead by every other node within the bound", async () => {
  c.memnet.cut(c.addr(23));
  const ms = await within("n23 dead everywhere", 8000, () => c.nodes.every((s, i) => i === 23 || c.stateOf(s, "n23") === "dead"));
  console.log(`failure of 1 in ${N} detected by all in ${ms.toFixed(0)} ms (test profile: 100 ms probes)`);
  // nobody else was taken down with it
  for (const [i, s] of c.nodes.entries()) if (i !== 23) expect(s.view().filter((m) => m.state === "alive")).toHaveLength(N - 1);
});

test("a node with the wrong secret never joins, and its datagrams are counted as forged", async () => {
  const net = c.memnet;
  const { Swim } = await import("../../src/gossip/swim.ts");
  const { createLogger } = await import("../../src/log.ts");
  const intruder = new Swim({
    id: "intruder", transport: net.transport("10.9.9.9:8082"), secret: "a-different-secret-entirely",
    seeds: [c.addr(0), c.addr(1)], profile: testProfile, meta: { capacity: 1, running: 0, free: 1 }, log: createLogger("error"),
  });
  intruder.start();
  await Bun.sleep(1500);
  for (const s of c.nodes) expect(s.view().some((m) => m.id === "intruder")).toBe(false);
  expect(intruder.view()).toHaveLength(1);
  expect(c.nodes[0]!.envelope.dropped.forged + c.nodes[1]!.envelope.dropped.forged).toBeGreaterThan(0);
  await intruder.stop();
});
