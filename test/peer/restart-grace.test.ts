// Restart vs death, with three real daemons on one PostgreSQL (issue 11,
// item 1). A node stopped with SIGTERM says it is leaving and is expected
// back: its preview stays where it is (one container cluster-wide, memory
// kept) when it returns within PREVIEWD_RESTART_GRACE, and moves when it does
// not. kill -9 still moves previews after the dead timeout. A node frozen
// past the dead timeout finds, once it runs again, that the store gives its
// preview to another node, and removes its copy within seconds. `previewd
// drain` empties a node and says when it is safe to power off.
//
// n0 and n1 use the default grace (60 s); n2 uses 5 s. A restart of n2 is
// judged by n0 and n1 (60 s: it keeps its preview); n0 staying away is judged
// by n2 too (5 s: its preview moves).
import { afterAll, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import { echoApp } from "../fixtures/apps.ts";
import { aliveIds, containersOf, counter, createOn, eventually, stateOf, stopDaemon } from "../support/cluster.ts";
import { ensureBaseImage } from "../support/docker.ts";
import { freshDatabase } from "../support/postgres.ts";
import { freePort, killDaemons, spawnDaemon, type DaemonProcess } from "../support/process.ts";

const SECRET = "restart-grace-secret-0123456789";
const run = `g${process.pid}${Date.now().toString(36)}`;
const nodes: DaemonProcess[] = [];
const idOf = (i: number) => `${run}-n${i}`;

beforeAll(async () => {
  // A database of its own: every node sharing a store is one cluster.
  const [databaseUrl, image] = await Promise.all([freshDatabase(), ensureBaseImage()]);
  const peerPorts = [await freePort(), await freePort(), await freePort()];
  const seeds = peerPorts.map((p) => `127.0.0.1:${p}`).join(",");
  const grace = ["60", "60", "5"];
  for (let i = 0; i < 3; i++) {
    nodes.push(
      await spawnDaemon({
        DATABASE_URL: databaseUrl, PREVIEWD_IMAGE: image, PREVIEWD_NODE_ID: idOf(i),
        PREVIEWD_PEER_PORT: String(peerPorts[i]), PREVIEWD_PEERS: seeds, PREVIEWD_CLUSTER_SECRET: SECRET,
        PREVIEWD_CAPACITY: "4", PREVIEWD_WARM_POOL: "1", PREVIEWD_GOSSIP_PROFILE: "local", PREVIEWD_RESTART_GRACE: grace[i]!,
      }),
    );
  }
  await Promise.all(nodes.map((n) => eventually("three alive", () => aliveIds(n), (a) => a.length === 3, 30_000)));
}, 180_000);

afterAll(async () => {
  await killDaemons(nodes);
});

/** The one container of `id` cluster-wide, on `node`; fails on a second copy anywhere. */
async function expectOneCopy(id: string, node: string): Promise<void> {
  const copies = await containersOf(id);
  expect(copies).toEqual([{ node, state: "running" }]);
}

test("SIGTERM and a restart within the grace: the preview stays, with its memory, and never runs twice", async () => {
  const victim = nodes[2]!;
  const { id, node } = await createOn(victim, echoApp);
  expect(node).toBe(idOf(2));
  expect(await counter(victim, id)).toBe(1);
  expect(await counter(nodes[0]!, id)).toBe(2);

  expect(await stopDaemon(victim)).toBe(0);
  // The siblings hear "left, expected back", not a death.
  for (const s of [nodes[0]!, nodes[1]!]) await eventually("n2 left", () => stateOf(s, idOf(2)), (st) => st === "left", 10_000);
  // Watch for longer than the local profile's dead timeout (~2 s): nobody moves it.
  const watchUntil = Date.now() + 5000;
  const viaSibling = new Map<number, number>(); // what a user reaching the preview through a sibling sees meanwhile
  while (Date.now() < watchUntil) {
    await expectOneCopy(id, idOf(2));
    const st = (await nodes[1]!.preview(id, "/small")).status;
    viaSibling.set(st, (viaSibling.get(st) ?? 0) + 1);
    const seen = (await (await nodes[0]!.api(`/v1/previews/${id}`)).json()) as { node: string };
    expect(seen.node).toBe(idOf(2));
    for (const s of [nodes[0]!, nodes[1]!]) expect(await stateOf(s, idOf(2))).toBe("left");
    await Bun.sleep(250);
  }

  console.log(`while n2 is away, through a sibling: ${JSON.stringify(Object.fromEntries(viaSibling))} (status: count)`);
  const t0 = performance.now();
  nodes[2] = await spawnDaemon(victim.env, victim.dataDir);
  // Its memory survived (the container ran on through the restart), through itself and through a sibling.
  expect(await eventually("answers after restart", () => counter(nodes[2]!, id), (n) => n > 0, 30_000)).toBe(3);
  console.log(`restart to first answer: ${(performance.now() - t0).toFixed(0)} ms`);
  for (const s of [nodes[0]!, nodes[1]!]) await eventually("n2 alive again", () => stateOf(s, idOf(2)), (st) => st === "alive", 20_000);
  expect(await eventually("through a sibling", () => counter(nodes[1]!, id), (n) => n > 0, 10_000)).toBe(4);
  await expectOneCopy(id, idOf(2));
  expect(((await (await nodes[2]!.api(`/v1/previews/${id}`)).json()) as { status: string }).status).toBe("running");
}, 120_000);

test("SIGTERM and away past the grace: the preview moves; the returning node removes its old copy at start", async () => {
  const victim = nodes[0]!;
  const { id } = await createOn(victim, echoApp);
  expect(await counter(victim, id)).toBe(1);
  expect(await stopDaemon(victim)).toBe(0);
  const t0 = performance.now();
  // n0 said goodbye; on a busy machine its stop can outlast n2's 5 s grace, so "dead" may already be here (the first test shows "left" itself).
  await eventually("n0 left", () => stateOf(nodes[2]!, idOf(0)), (st) => st === "left" || st === "dead", 10_000);
  // n2's grace (5 s) runs out: dead, and the preview is re-created on n1 or n2 from its files.
  await eventually("n0 dead past the grace", () => stateOf(nodes[2]!, idOf(0)), (st) => st === "dead", 30_000);
  const dead = performance.now() - t0;
  const back = await eventually("answers from another node", () => counter(nodes[1]!, id), (n) => n > 0, 60_000);
  expect(back).toBe(1); // a new process: memory is what a takeover loses
  const moved = performance.now() - t0;
  console.log(`past the grace: dead after ${dead.toFixed(0)} ms, answering again after ${moved.toFixed(0)} ms`);
  const owner = ((await (await nodes[1]!.api(`/v1/previews/${id}`)).json()) as { node: string }).node;
  expect([idOf(1), idOf(2)]).toContain(owner);

  nodes[0] = await spawnDaemon(victim.env, victim.dataDir);
  await eventually("old copy removed", () => containersOf(id), (c) => c.length === 1, 20_000);
  await expectOneCopy(id, owner);
  expect(await counter(nodes[0]!, id)).toBe(2); // and the returning node routes to the new owner
}, 180_000);

test("kill -9: no goodbye, so the preview moves after the dead timeout", async () => {
  const victim = nodes[1]!;
  const { id } = await createOn(victim, echoApp);
  victim.proc.kill("SIGKILL");
  await victim.proc.exited;
  const t0 = performance.now();
  for (const s of [nodes[0]!, nodes[2]!]) await eventually("n1 dead", () => stateOf(s, idOf(1)), (st) => st === "dead", 30_000);
  const dead = performance.now() - t0;
  await eventually("answers from another node", () => counter(nodes[0]!, id), (n) => n > 0, 60_000);
  console.log(`kill -9: dead after ${dead.toFixed(0)} ms, answering again after ${(performance.now() - t0).toFixed(0)} ms`);
  const owner = ((await (await nodes[0]!.api(`/v1/previews/${id}`)).json()) as { node: string }).node;
  expect([idOf(0), idOf(2)]).toContain(owner);
  // The killed daemon's container ran on (same engine): its return removes it.
  nodes[1] = await spawnDaemon(victim.env, victim.dataDir);
  await eventually("old copy removed", () => containersOf(id), (c) => c.length === 1, 20_000);
  await expectOneCopy(id, owner);
}, 180_000);

test("a node frozen past the dead timeout stops its copy within seconds of running again", async () => {
  const victim = nodes[1]!;
  await eventually("n1 alive everywhere", () => Promise.all([stateOf(nodes[0]!, idOf(1)), stateOf(nodes[2]!, idOf(1))]), (s) => s.every((x) => x === "alive"), 30_000);
  const { id } = await createOn(victim, echoApp);
  victim.proc.kill("SIGSTOP"); // alive but silent: no goodbye, its container keeps running
  try {
    await eventually("n1 dead", () => stateOf(nodes[0]!, idOf(1)), (st) => st === "dead", 30_000);
    await eventually("answers from another node", () => counter(nodes[0]!, id), (n) => n > 0, 60_000);
  } finally {
    victim.proc.kill("SIGCONT");
  }
  const owner = ((await (await nodes[0]!.api(`/v1/previews/${id}`)).json()) as { node: string }).node;
  expect(owner).not.toBe(idOf(1));
  const t0 = performance.now();
  // No restart: the periodic check of the running daemon finds the store names another node.
  await eventually("frozen node's copy removed", () => containersOf(id), (c) => c.length === 1 && c[0]!.node === owner, 15_000);
  console.log(`thawed node removed its copy ${(performance.now() - t0).toFixed(0)} ms after SIGCONT`);
  await eventually("n1 alive again", () => stateOf(nodes[0]!, idOf(1)), (st) => st === "alive", 30_000);
}, 180_000);

test("previewd drain: moves a node's previews to the others, refuses creates there, says when it is safe to power off", async () => {
  const target = nodes[2]!;
  await eventually("all alive", () => aliveIds(nodes[0]!), (a) => a.length === 3, 30_000);
  // What the store gives n2, once every node agrees (a node may still hold a copy it just lost, for a second).
  const onN2 = async (n: DaemonProcess) =>
    ((await (await n.api("/v1/previews")).json()) as { previews: Array<{ id: string; node: string }> }).previews.filter((p) => p.node === idOf(2)).map((p) => p.id).sort().join(",");
  const agreed = await eventually("nodes agree on n2's previews", async () => [await onN2(nodes[0]!), await onN2(nodes[1]!), await onN2(target)], (v) => v[0] === v[1] && v[1] === v[2], 15_000);
  const mine = new Set(agreed[0]!.split(",").filter(Boolean));
  // One more there, unless n2 is full (capacity 4): then placement puts it on a sibling, and it is not n2's to move.
  const extra = await createOn(target, echoApp);
  if (extra.node === idOf(2)) mine.add(extra.id);
  expect(mine.size).toBeGreaterThanOrEqual(2); // the first test's preview still lives here

  // A scoped token may not drain.
  const tokenRes = await target.api(`/v1/previews/${[...mine][0]}/tokens`, { method: "POST", body: "{}" });
  const { token: scoped } = (await tokenRes.json()) as { token: string };
  const refused = await fetch(`http://127.0.0.1:${target.apiPort}/v1/nodes/${idOf(2)}/drain`, { method: "POST", headers: { authorization: `Bearer ${scoped}` } });
  expect(refused.status).toBe(403);

  const t0 = performance.now();
  const cli = Bun.spawn([process.execPath, join(import.meta.dir, "..", "..", "src/main.ts"), "drain"], {
    env: { ...process.env, PREVIEWD_API_URL: `http://127.0.0.1:${target.apiPort}`, PREVIEWD_API_TOKEN: target.token },
    stdout: "pipe", stderr: "pipe",
  });
  const [out, err, code] = await Promise.all([new Response(cli.stdout).text(), new Response(cli.stderr).text(), cli.exited]);
  console.log(`drain of ${mine.size} previews: ${(performance.now() - t0).toFixed(0)} ms\n${out}${err}`);
  expect(code).toBe(0);
  expect(out).toContain("safe to power off");
  for (const id of mine) expect(out).toContain(`moved ${id}`);

  for (const id of mine) {
    const copies = await containersOf(id);
    expect(copies.length).toBe(1);
    expect(copies[0]!.node).not.toBe(idOf(2));
    expect(await eventually("moved preview answers", () => counter(target, id), (n) => n > 0, 30_000)).toBeGreaterThan(0);
  }
  // Nothing of the drained node's previews is left on it, and a create there goes elsewhere.
  const status = (await (await nodes[0]!.api(`/v1/nodes/${idOf(2)}/drain`)).json()) as { remaining: number; safeToPowerOff: boolean };
  expect(status).toMatchObject({ remaining: 0, safeToPowerOff: true });
  const placed = await createOn(target, echoApp);
  expect(placed.node).not.toBe(idOf(2));
}, 180_000);
