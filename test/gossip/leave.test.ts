// A node that stops on purpose says "left, expected back" (simulated 10-node
// network, test profile): nobody takes it for dead while the grace runs, it
// is dead everywhere once the grace is over, and a node with its id that
// starts again is alive everywhere (its clock-based incarnation outranks it).
import { afterAll, expect, test } from "bun:test";
import { MemNet } from "../../src/gossip/memnet.ts";
import { testProfile } from "../../src/gossip/profiles.ts";
import { Swim } from "../../src/gossip/swim.ts";
import { createLogger } from "../../src/log.ts";
import { SECRET, within } from "./support.ts";

const N = 10;
const GRACE_MS = 2000;
const net = new MemNet({ latencyMs: 1 });
const addr = (i: number) => `10.1.0.${i}:8082`;
const make = (i: number) =>
  new Swim({ id: `n${i}`, transport: net.transport(addr(i)), secret: SECRET, seeds: [addr(0), addr(1)], profile: testProfile, meta: { capacity: 1, running: 0, free: 1 }, log: createLogger("error"), leftGraceMs: GRACE_MS });
const nodes = Array.from({ length: N }, (_, i) => make(i));
for (const s of nodes) s.start();
const stateOf = (viewer: Swim, id: string) => viewer.view().find((m) => m.id === id)?.state;
const others = () => nodes.filter((_, i) => i !== 4);

afterAll(async () => {
  await Promise.all(nodes.map((s) => s.stop()));
});

test("stop on purpose: left (not dead) during the grace, dead after it, alive again when it returns", async () => {
  await within("converged", 5000, () => nodes.every((s) => s.view().filter((m) => m.state === "alive").length === N));
  await nodes[4]!.stop();
  const t0 = performance.now();
  await within("left everywhere", 1000, () => others().every((s) => stateOf(s, "n4") === "left"));
  // Longer than the test profile's dead timeout (~0.5 s): still only "left".
  while (performance.now() - t0 < GRACE_MS * 0.7) {
    for (const s of others()) expect(stateOf(s, "n4")).toBe("left");
    await Bun.sleep(50);
  }
  await within("dead after the grace", GRACE_MS + 2000, () => others().every((s) => stateOf(s, "n4") === "dead"));
  expect(performance.now() - t0).toBeGreaterThanOrEqual(GRACE_MS * 0.9);

  nodes[4] = make(4);
  nodes[4].start();
  await within("back, alive everywhere", 3000, () => others().every((s) => stateOf(s, "n4") === "alive"));
});

test("a restart within the grace: alive again everywhere", async () => {
  await nodes[6]!.stop();
  await within("left everywhere", 1000, () => nodes.filter((_, i) => i !== 6).every((s) => stateOf(s, "n6") === "left"));
  nodes[6] = make(6);
  nodes[6].start();
  await within("alive everywhere", 3000, () => nodes.filter((_, i) => i !== 6).every((s) => stateOf(s, "n6") === "alive"));
});
