// Three real daemons as separate processes on loopback, one shared
// PostgreSQL: a preview created on one node answers through all three (HTTP
// and WebSocket); kill -9 of its node (and removal of its containers) gets it
// marked dead and the preview answers again from another node; a node with a
// wrong secret never joins.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { echoApp } from "../fixtures/apps.ts";
import { ensureBaseImage, removeContainersByLabel } from "../support/docker.ts";
import { freshDatabase } from "../support/postgres.ts";
import { freePort, killDaemons, spawnDaemon, type DaemonProcess } from "../support/process.ts";
import { eventually } from "../support/eventually.ts";
import { rawRequest, statuses } from "../support/rawhttp.ts";
import { signHeaders } from "../../src/peer/signing.ts";

const SECRET = "cluster-test-secret-0123456789";
const run = `c${process.pid}${Date.now().toString(36)}`;
const nodes: DaemonProcess[] = [];
let intruder: DaemonProcess | undefined;

type ClusterBody = { nodes: Array<{ id: string; state: string; free: number; capacity: number }> };
const clusterOf = async (d: DaemonProcess) => (await (await d.api("/v1/cluster")).json()) as ClusterBody;
const alive = async (d: DaemonProcess) => (await clusterOf(d)).nodes.filter((n) => n.state === "alive").map((n) => n.id).sort();

beforeAll(async () => {
  // A database of its own: every node sharing a store is one cluster, and the
  // suite's shared database holds previews of daemons that are gone, which
  // this cluster's recovery would otherwise take over as orphans.
  const [databaseUrl, image] = await Promise.all([freshDatabase(), ensureBaseImage()]);
  const peerPorts = [await freePort(), await freePort(), await freePort()];
  const seeds = peerPorts.map((p) => `127.0.0.1:${p}`).join(",");
  for (let i = 0; i < 3; i++) {
    nodes.push(
      await spawnDaemon({
        DATABASE_URL: databaseUrl, PREVIEWD_IMAGE: image, PREVIEWD_NODE_ID: `${run}-n${i}`,
        PREVIEWD_PEER_PORT: String(peerPorts[i]), PREVIEWD_PEERS: seeds, PREVIEWD_CLUSTER_SECRET: SECRET,
        PREVIEWD_CAPACITY: "5", PREVIEWD_WARM_POOL: "1", PREVIEWD_GOSSIP_PROFILE: "local",
      }),
    );
  }
  await Promise.all(nodes.map((n) => eventually("three alive", () => alive(n), (a) => a.length === 3, 20_000)));
});

afterAll(async () => {
  await killDaemons([...nodes, intruder]);
});

test("every node sees the three nodes alive with their capacity", async () => {
  for (const n of nodes) {
    const body = await clusterOf(n);
    expect(body.nodes.map((x) => x.id).sort()).toEqual(nodes.map((x) => x.env.PREVIEWD_NODE_ID!).sort());
    for (const x of body.nodes) expect(x.capacity).toBe(5);
  }
});

let id = "";
let owner = -1;

test("a preview created on one node answers through all three, HTTP and WebSocket", async () => {
  const res = await nodes[0]!.api("/v1/previews?wait=1", { method: "POST", body: JSON.stringify({ files: echoApp }) });
  expect(res.status).toBe(201);
  const p = (await res.json()) as { id: string; node: string; status: string };
  expect(p.status).toBe("running");
  id = p.id;
  owner = nodes.findIndex((n) => n.env.PREVIEWD_NODE_ID === p.node);
  expect(owner).toBeGreaterThanOrEqual(0);
  const counts: number[] = [];
  for (const n of nodes) {
    const r = await n.preview(id, "/counter");
    expect(r.status).toBe(200);
    counts.push(Number(await r.text()));
  }
  expect(counts).toEqual([1, 2, 3]); // one app, reached from every node
  for (const n of nodes) {
    const ws = new WebSocket(`ws://127.0.0.1:${n.proxyPort}/ws`, { headers: { host: `${id}.localhost` } } as never);
    const echoed = await new Promise<string>((resolve, reject) => {
      ws.onopen = () => ws.send(`via ${n.env.PREVIEWD_NODE_ID}`);
      ws.onmessage = (ev) => resolve(String(ev.data));
      ws.onerror = () => reject(new Error("ws error"));
    });
    expect(echoed).toBe(`via ${n.env.PREVIEWD_NODE_ID}`);
    ws.close();
  }
  // every node lists it, and can act on it (here: read its logs through the owner)
  for (const n of nodes) {
    const list = (await (await n.api("/v1/previews")).json()) as { previews: Array<{ id: string }> };
    expect(list.previews.map((x) => x.id)).toContain(id);
    expect(await (await n.api(`/v1/previews/${id}/logs`)).text()).toContain("echo app listening");
  }
});

test("the sibling hop: the owner's app sees the client's forwarding chain; an unsigned, forged or replayed hop to the peer port is refused", async () => {
  const via = nodes[(owner + 1) % 3]!;
  // The first request fills the non-owner's owner cache (general path); the next ones take the byte-level hop.
  for (let i = 0; i < 20; i++) expect((await via.preview(id, "/small")).status).toBe(200);
  const seen = (await (await via.preview(id, "/headers", { headers: { "x-forwarded-host": "evil.example", "x-previewd-sig": "forged" } })).json()) as Record<string, string>;
  expect(seen["x-forwarded-host"]).toBe(`${id}.localhost`); // ours, not the client's
  // The chain: the client's address as the first node saw it, then the first node's as the owner saw it.
  expect(seen["x-forwarded-for"]).toBe("127.0.0.1, 127.0.0.1");
  expect(seen.host).toBe(`${id}.localhost`);
  for (const name of Object.keys(seen)) expect(name.startsWith("x-previewd-")).toBe(false);

  const ownerNode = nodes[owner]!;
  const to = ownerNode.env.PREVIEWD_NODE_ID!;
  const hop = (headers: Record<string, string>) =>
    rawRequest(Number(ownerNode.env.PREVIEWD_PEER_PORT), `GET /counter HTTP/1.1\r\nhost: ${id}.localhost\r\nconnection: close\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join("")}\r\n`);
  const signed = signHeaders(SECRET, via.env.PREVIEWD_NODE_ID!, "proxy", { to, method: "", target: `${id}.localhost` });
  const ok = await hop(signed);
  expect(ok.status).toBe(200);
  const replayed = await hop(signed);
  expect(replayed.status).toBe(403);
  expect(JSON.parse(replayed.body.toString()).error.message).toContain("replayed");
  const forged = await hop(signHeaders("not-the-secret", via.env.PREVIEWD_NODE_ID!, "proxy", { to, method: "", target: `${id}.localhost` }));
  expect(forged.status).toBe(403);
  const unsigned = await hop({ "x-previewd-kind": "proxy", "x-previewd-host": `${id}.localhost` });
  expect(unsigned.status).toBe(403);
  // A signature for another node is not good here.
  const other = nodes[(owner + 2) % 3]!.env.PREVIEWD_NODE_ID!;
  expect((await hop(signHeaders(SECRET, via.env.PREVIEWD_NODE_ID!, "proxy", { to: other, method: "", target: `${id}.localhost` }))).status).toBe(403);
});

test("a sibling hop signs each connection once: later requests on it go unsigned, a forged first request loses the connection", async () => {
  const via = nodes[(owner + 1) % 3]!;
  const ownerNode = nodes[owner]!;
  const verified = async () => Number(/^previewd_peer_verified_total (\S+)$/m.exec(await (await ownerNode.api("/metrics")).text())?.[1]);
  for (let i = 0; i < 3; i++) await via.preview(id, "/small"); // the owner cache, and a pooled hop
  const before = await verified();
  for (let i = 0; i < 100; i++) expect((await via.preview(id, "/small")).status).toBe(200);
  // One signature per new hop connection (a few at most), not one per request.
  expect((await verified()) - before).toBeLessThan(10);

  // On the wire: a signed first request authenticates its connection for the next, unsigned ones.
  const to = ownerNode.env.PREVIEWD_NODE_ID!;
  const peerPort = Number(ownerNode.env.PREVIEWD_PEER_PORT);
  const named = `x-previewd-kind: proxy\r\nx-previewd-host: ${id}.localhost\r\n`;
  const request = (headers: Record<string, string> | string, close = false) =>
    `GET /small HTTP/1.1\r\nhost: ${id}.localhost\r\n${close ? "connection: close\r\n" : ""}${typeof headers === "string" ? headers : Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join("")}\r\n`;
  const signed = () => signHeaders(SECRET, via.env.PREVIEWD_NODE_ID!, "proxy", { to, method: "", target: `${id}.localhost` });
  // Three requests on one connection, the last with close: the status line of every answer, in order.
  expect(await statuses(peerPort, request(signed()) + request(named) + request(named, true))).toEqual([200, 200, 200]);
  expect(await statuses(peerPort, request(named, true))).toEqual([403]); // a new connection must sign again
  // What the relay hands to the peer listener behind it (here HTTP/1.0) is vouched for by the front, not checked twice.
  const http10 = `GET /small HTTP/1.0\r\nhost: ${id}.localhost\r\n${named}\r\n`;
  expect(await statuses(peerPort, request(signed()) + http10)).toEqual([200, 200]);
  // A forged first request: 403 and the connection ends, so the unsigned ones behind it get nothing.
  const forged = signHeaders("not-the-secret", via.env.PREVIEWD_NODE_ID!, "proxy", { to, method: "", target: `${id}.localhost` });
  expect(await statuses(peerPort, request(forged) + request(named) + request(named, true))).toEqual([403]);
});

test("a full node places creates on its siblings", async () => {
  const ids: string[] = [];
  const placed = new Set<string>();
  for (let i = 0; i < 7; i++) {
    const r = await nodes[1]!.api("/v1/previews", { method: "POST", body: JSON.stringify({ files: echoApp }) });
    expect(r.status).toBe(201);
    const p = (await r.json()) as { id: string; node: string };
    ids.push(p.id);
    placed.add(p.node);
  }
  expect(placed.size).toBeGreaterThan(1);
  for (const pid of ids) expect((await nodes[1]!.api(`/v1/previews/${pid}`, { method: "DELETE" })).status).toBe(204);
});

test("kill -9 of the owner: marked dead, and the preview answers again from another node", async () => {
  const victim = nodes[owner]!;
  const survivors = nodes.filter((_, i) => i !== owner);
  victim.proc.kill("SIGKILL");
  await removeContainersByLabel(`previewd.node=${victim.env.PREVIEWD_NODE_ID}`);
  const t0 = performance.now();
  for (const s of survivors) {
    await eventually("victim dead", () => clusterOf(s), (b) => b.nodes.find((n) => n.id === victim.env.PREVIEWD_NODE_ID)?.state === "dead", 30_000);
  }
  const detected = performance.now() - t0;
  for (const s of survivors) {
    await eventually("preview back", () => s.preview(id, "/small").then((r) => r.status), (st) => st === 200, 30_000);
  }
  const back = performance.now() - t0;
  console.log(`failure detected in ${detected.toFixed(0)} ms; preview answering again after ${back.toFixed(0)} ms`);
  const view = (await (await survivors[0]!.api(`/v1/previews/${id}`)).json()) as { node: string; status: string };
  expect(survivors.map((s) => s.env.PREVIEWD_NODE_ID)).toContain(view.node);
});

test("the dead node returns (same id, same data): it does not run the preview again", async () => {
  const victim = nodes[owner]!;
  const back = await spawnDaemon(victim.env, victim.dataDir);
  nodes[owner] = back;
  const live = nodes.filter((n) => n !== back);
  await eventually("returned node alive", () => alive(live[0]!), (a) => a.includes(back.env.PREVIEWD_NODE_ID!), 20_000);
  await Bun.sleep(1500); // a few recovery passes
  const mine = (await (await back.api("/v1/previews")).json()) as { previews: Array<{ id: string; node: string }> };
  const p = mine.previews.find((x) => x.id === id)!;
  expect(p.node).not.toBe(back.env.PREVIEWD_NODE_ID);
  const { default: Docker } = await import("dockerode");
  const copies = await new Docker().listContainers({ all: true, filters: { label: [`previewd.preview=${id}`] } });
  expect(copies).toHaveLength(1);
  expect(copies[0]!.Labels["previewd.node"]).toBe(p.node);
  expect((await back.preview(id, "/small")).status).toBe(200); // and it still routes to the new owner
});

test("a node with a wrong secret never joins", async () => {
  const live = nodes.filter((n) => n.proc.exitCode === null && n.proc.signalCode === null);
  intruder = await spawnDaemon({
    DATABASE_URL: await freshDatabase(), PREVIEWD_IMAGE: await ensureBaseImage(), PREVIEWD_NODE_ID: `${run}-intruder`,
    PREVIEWD_PEERS: live.map((n) => `127.0.0.1:${n.env.PREVIEWD_PEER_PORT}`).join(","),
    PREVIEWD_CLUSTER_SECRET: "not-the-cluster-secret-at-all", PREVIEWD_WARM_POOL: "0", PREVIEWD_GOSSIP_PROFILE: "local",
  });
  await Bun.sleep(3000);
  for (const n of live) expect((await clusterOf(n)).nodes.map((x) => x.id)).not.toContain(`${run}-intruder`);
  expect(await alive(intruder)).toEqual([`${run}-intruder`]);
  const metrics = await (await fetch(`http://127.0.0.1:${live[0]!.apiPort}/metrics`)).text();
  expect(metrics).toMatch(/previewd_gossip_dropped_total\{reason="forged"\} [1-9]/);
});
