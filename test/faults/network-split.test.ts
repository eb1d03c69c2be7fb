// A network split between nodes (issue 11, item 3): three real daemons on
// loopback sharing one PostgreSQL; node C is cut off from A and B by iptables
// rules on `lo` (a chain of this test's own, jumped from INPUT) that drop the
// gossip datagrams between C's peer port and A's and B's, and every TCP
// packet to or from C's peer port (the signed sibling hops and peer API
// calls of A and B). Each side takes the other for dead; both still reach
// the shared PostgreSQL, where every node writes a heartbeat (peer/recovery.ts):
// a preview is taken over only from a node whose heartbeat is stale, so during
// the split nothing moves. Asserted: each side keeps serving its own previews
// through its own proxy ports, no preview runs on both sides (containers
// counted by label on the shared engine), a create on C during the split
// runs on C; then the rules go and the cluster heals: all three alive on
// every node, every preview answers through every node from its one copy.
//
// Not covered: C's own outgoing TCP connections to A's and B's peer ports
// (their source port is ephemeral, so a port rule cannot tell them from B's
// and A's); while A and B are dead in C's view C makes none.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { echoApp } from "../fixtures/apps.ts";
import { aliveIds, containersOf, counter, createOn, eventually, stateOf } from "../support/cluster.ts";
import { ensureBaseImage, removeContainersByLabel } from "../support/docker.ts";
import { freshDatabase } from "../support/postgres.ts";
import { freePort, killDaemons, spawnDaemon, type DaemonProcess } from "../support/process.ts";
import { splitter } from "../support/split.ts";

const SECRET = "network-split-test-secret-0123456789";
const CHAIN = "PREVIEWD-TEST-SPLIT";
const run = `ns${process.pid}${Date.now().toString(36)}`;
const nodes: DaemonProcess[] = [];
const idOf = (d: DaemonProcess) => d.env.PREVIEWD_NODE_ID!;
const { heal, split } = splitter(CHAIN);

beforeAll(async () => {
  await heal();
  const [databaseUrl, image] = await Promise.all([freshDatabase(), ensureBaseImage()]);
  const peerPorts = [await freePort(), await freePort(), await freePort()];
  const seeds = peerPorts.map((p) => `127.0.0.1:${p}`).join(",");
  for (let i = 0; i < 3; i++) {
    nodes.push(
      await spawnDaemon({
        DATABASE_URL: databaseUrl, PREVIEWD_IMAGE: image, PREVIEWD_NODE_ID: `${run}-${"abc"[i]}`,
        PREVIEWD_PEER_PORT: String(peerPorts[i]), PREVIEWD_PEERS: seeds, PREVIEWD_CLUSTER_SECRET: SECRET,
        PREVIEWD_CAPACITY: "4", PREVIEWD_WARM_POOL: "0", PREVIEWD_GOSSIP_PROFILE: "local",
      }),
    );
  }
  for (const n of nodes) await eventually("three alive", () => aliveIds(n), (a) => a.length === 3, 30_000);
}, 180_000);

afterAll(async () => {
  await heal();
  await killDaemons(nodes);
  for (const n of nodes) await removeContainersByLabel(`previewd.node=${idOf(n)}`).catch(() => {});
}, 60_000);

/** Every container of the preview, running or not: exactly one, on `node`. */
async function oneCopyOn(id: string, node: string): Promise<void> {
  const copies = await containersOf(id);
  expect(copies.map((c) => c.node)).toEqual([node]);
}

test("split C from A and B: each side serves its own previews, none runs on both sides; the cluster heals", async () => {
  const [a, b, c] = nodes as [DaemonProcess, DaemonProcess, DaemonProcess];
  const onA = await createOn(a, echoApp);
  const onC = await createOn(c, echoApp);
  expect(onA.node).toBe(idOf(a));
  expect(onC.node).toBe(idOf(c));

  const t0 = performance.now();
  await split(c, [a, b]);
  // Detection: A and B find C dead, and C finds A and B dead.
  await Promise.all([
    eventually("A and B see C dead", () => Promise.all([stateOf(a, idOf(c)), stateOf(b, idOf(c))]), (s) => s.every((x) => x === "dead"), 30_000),
    eventually("C sees A and B dead", () => Promise.all([stateOf(c, idOf(a)), stateOf(c, idOf(b))]), (s) => s.every((x) => x === "dead"), 30_000),
  ]);
  const detected = performance.now() - t0;

  // A create on C during the split runs on C (the only node it sees).
  const duringC = await createOn(c, echoApp);
  expect(duringC.node).toBe(idOf(c));
  const mine = [
    { id: onA.id, node: idOf(a), via: [a, b] },
    { id: onC.id, node: idOf(c), via: [c] },
    { id: duringC.id, node: idOf(c), via: [c] },
  ];

  // Watch for longer than a takeover would take (dead + one recovery pass + a container start, ~5 s here;
  // twice the heartbeat's stale bound): every sample, each preview answers on its own side and has one copy.
  const watchUntil = performance.now() + 12_000;
  let samples = 0;
  while (performance.now() < watchUntil) {
    for (const p of mine) {
      await oneCopyOn(p.id, p.node);
      for (const d of p.via) expect((await d.preview(p.id, "/small", { signal: AbortSignal.timeout(10_000) })).status).toBe(200);
      const rec = (await (await a.api(`/v1/previews/${p.id}`)).json()) as { node: string };
      expect(rec.node).toBe(p.node);
    }
    samples++;
    await Bun.sleep(250);
  }
  expect(samples).toBeGreaterThan(3);
  // Both sides really were apart the whole time (not healed early by a hole in the rules).
  expect(await stateOf(a, idOf(c))).toBe("dead");
  expect(await stateOf(c, idOf(a))).toBe("dead");

  const t1 = performance.now();
  await heal();
  const all = nodes.map(idOf).sort();
  for (const n of nodes) await eventually("healed: three alive", () => aliveIds(n), (x) => JSON.stringify(x) === JSON.stringify(all), 60_000);
  const healed = performance.now() - t1;
  console.log(`split: detected on both sides after ${detected.toFixed(0)} ms; ${samples} samples during the split; healed ${healed.toFixed(0)} ms after the rules went`);

  // Every preview answers through every node, from its one copy on its owner.
  for (const p of mine) {
    for (const d of nodes) await eventually(`${p.id} through ${idOf(d)}`, () => counter(d, p.id), (v) => v > 0, 30_000);
    await oneCopyOn(p.id, p.node);
  }
  // And stays that way after a few more recovery passes.
  await Bun.sleep(3000);
  for (const p of mine) await oneCopyOn(p.id, p.node);
}, 240_000);
