// Fly overflow end to end: two real daemons (separate processes, one
// PostgreSQL), each with room for one preview, and the fake Fly (machines are
// real containers, its edge routes by Host and fly-force-instance-id). The
// third create goes to Fly; its URL answers through both nodes; it suspends
// when idle and a request wakes it with its memory; a daemon killed in the
// middle of a Fly create leaves nothing inconsistent after its restart.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { echoApp } from "../fixtures/apps.ts";
import { loadApp } from "../fixtures/apps/index.ts";
import { startFakeFly, type FakeFly } from "../fakes/fly/index.ts";
import { ensureBaseImage } from "../support/docker.ts";
import { freshDatabase } from "../support/postgres.ts";
import { freePort, killDaemons, spawnDaemon, type DaemonProcess } from "../support/process.ts";
import { eventually } from "../support/eventually.ts";

const SECRET = "fly-tier-test-secret-0123456789";
const run = `f${process.pid}${Date.now().toString(36)}`;
let fake: FakeFly;
let env: Record<string, string>;
const nodes: DaemonProcess[] = [];
const spawned: DaemonProcess[] = [];

type Preview = { id: string; status: string; tier: string; node: string; tierReason?: string; fly?: { machineId: string; runningSeconds: number; suspendedSeconds: number; estimatedCostUsd: number } };

const get = async (d: DaemonProcess, id: string) => (await (await d.api(`/v1/previews/${id}`)).json()) as Preview;
/** Machines the fake still has (it keeps destroyed ones for inspection; Fly's list leaves them out). */
const liveMachines = () => fake.machines().filter((m) => m.state !== "destroyed" && m.state !== "destroying");

beforeAll(async () => {
  fake = await startFakeFly();
  const [databaseUrl, image] = await Promise.all([freshDatabase(), ensureBaseImage()]);
  const peerPorts = [await freePort(), await freePort()];
  env = {
    DATABASE_URL: databaseUrl, PREVIEWD_IMAGE: image, PREVIEWD_CLUSTER_SECRET: SECRET, PREVIEWD_PEERS: peerPorts.map((p) => `127.0.0.1:${p}`).join(","),
    PREVIEWD_CAPACITY: "1", PREVIEWD_WARM_POOL: "0", PREVIEWD_GOSSIP_PROFILE: "local", PREVIEWD_IDLE_TIMEOUT: "6",
    FLY_API_URL: fake.apiUrl, FLY_API_TOKEN: fake.token, FLY_APP: fake.app, FLY_EDGE_URL: fake.edgeUrl, FLY_IMAGE: image, FLY_REGIONS: "iad,ord",
    PREVIEWD_CLUSTER_NAME: run,
  };
  for (let i = 0; i < 2; i++) {
    const d = await spawnDaemon({ ...env, PREVIEWD_NODE_ID: `${run}-n${i}`, PREVIEWD_PEER_PORT: String(peerPorts[i]) });
    nodes.push(d);
    spawned.push(d);
  }
  await Promise.all(nodes.map((n) => eventually("two alive", async () => ((await (await n.api("/v1/cluster")).json()) as { nodes: { state: string }[] }).nodes.filter((x) => x.state === "alive").length, (k) => k === 2, 30_000)));
}, 180_000);

afterAll(async () => {
  await killDaemons(spawned);
  await fake?.stop();
}, 60_000);

let flyId = "";

test("with both nodes full, the next create runs on Fly and says why", async () => {
  const cluster = (await (await nodes[0]!.api("/v1/cluster")).json()) as { overflow: { fly: boolean } };
  expect(cluster.overflow.fly).toBe(true);
  for (let i = 0; i < 2; i++) {
    const r = await nodes[0]!.api("/v1/previews?wait=1", { method: "POST", body: JSON.stringify({ files: echoApp }) });
    expect(((await r.json()) as Preview).tier).toBe("container");
  }
  const res = await nodes[0]!.api("/v1/previews?wait=1", { method: "POST", body: JSON.stringify({ files: echoApp, env: { GREETING: "on fly" } }) });
  expect(res.status).toBe(201);
  const p = (await res.json()) as Preview;
  expect({ tier: p.tier, node: p.node, status: p.status }).toEqual({ tier: "fly", node: "fly", status: "running" });
  expect(p.tierReason).toBe("cluster full: no node has room");
  flyId = p.id;
  const machines = liveMachines().filter((m) => m.config.metadata?.previewd_preview === flyId);
  expect(machines.length).toBe(1);
  expect(p.fly!.machineId).toBe(machines[0]!.id);
}, 120_000);

test("its URL answers through every node: HTTP, a 5 MB upload and a WebSocket", async () => {
  const counts: number[] = [];
  for (const n of nodes) counts.push(Number(await (await n.preview(flyId, "/counter")).text()));
  expect(counts).toEqual([counts[0]!, counts[0]! + 1]);
  expect(JSON.parse(await (await nodes[1]!.preview(flyId, "/env")).text()).GREETING).toBe("on fly");

  const body = new Uint8Array(5 * 1024 * 1024).fill(9);
  const up = (await (await nodes[1]!.preview(flyId, "/upload", { method: "POST", body })).json()) as { length: number; sha256: string };
  expect(up).toEqual({ length: body.length, sha256: createHash("sha256").update(body).digest("hex") });

  const ws = new WebSocket(`ws://127.0.0.1:${nodes[0]!.proxyPort}/ws`, { headers: { host: `${flyId}.localhost` } } as never);
  const echoed = await new Promise<string>((resolve, reject) => {
    ws.onopen = () => ws.send("over fly");
    ws.onmessage = (e) => resolve(String(e.data));
    ws.onerror = () => reject(new Error("websocket failed"));
    setTimeout(() => reject(new Error("websocket timeout")), 20_000);
  });
  ws.close();
  expect(echoed).toBe("over fly");
}, 60_000);

test("idle, it is suspended (machine paused); a request wakes it with its memory, and the time is counted", async () => {
  const before = Number(await (await nodes[0]!.preview(flyId, "/counter")).text());
  const suspended = await eventually("suspended", () => get(nodes[0]!, flyId), (p) => p.status === "suspended", 40_000);
  // Fly answers a suspend at once ("suspending"); the machine is paused a moment later.
  await eventually("machine paused", async () => fake.machines().find((m) => m.id === suspended.fly!.machineId)!.state, (st) => st === "suspended", 10_000);
  await Bun.sleep(1500); // some time suspended, to be counted
  const after = Number(await (await nodes[1]!.preview(flyId, "/counter")).text());
  expect(after).toBe(before + 1);
  const woken = await eventually("running again", () => get(nodes[0]!, flyId), (p) => p.status === "running", 10_000);
  expect(woken.fly!.runningSeconds).toBeGreaterThan(0);
  expect(woken.fly!.suspendedSeconds).toBeGreaterThan(0);
  expect(woken.fly!.estimatedCostUsd).toBeGreaterThan(0);
  const metrics = await (await nodes[0]!.api("/metrics")).text();
  expect(metrics).toMatch(/^previewd_fly_estimated_cost_usd \d/m);
}, 90_000);

test("an app with dependencies installs them in the machine (npm ci from its lockfile) and serves", async () => {
  const res = await nodes[1]!.api("/v1/previews?wait=1", { method: "POST", body: JSON.stringify({ files: loadApp("express-pg"), tier: "fly" }) });
  const p = (await res.json()) as Preview & { error?: string };
  expect({ status: p.status, error: p.error, tier: p.tier, tierReason: p.tierReason }).toEqual({ status: "running", error: undefined, tier: "fly", tierReason: "tier fly was asked for" });
  const page = await (await nodes[0]!.preview(p.id, "/")).text();
  expect(page).toContain("Items API");
  expect((await nodes[0]!.api(`/v1/previews/${p.id}`, { method: "DELETE" })).status).toBe(204);
}, 180_000);

test("a preview with a database is refused on Fly when no public database address is set, and nothing is left", async () => {
  const before = liveMachines().length;
  const res = await nodes[0]!.api("/v1/previews", { method: "POST", body: JSON.stringify({ files: echoApp, tier: "fly", database: true }) });
  expect(res.status).toBe(400);
  const body = (await res.json()) as { error: { code: string; message: string } };
  expect(body.error.code).toBe("database_unreachable_from_fly");
  expect(body.error.message).toContain("FLY_DATABASE_ADDR");
  expect(liveMachines().length).toBe(before);
});

test("a large file set (past the per-file limit) travels as one tarball the runner unpacks, byte for byte", async () => {
  const big = Array.from({ length: 40 }, (_, i) => [`data/chunk-${i}.txt`, `line ${i}\n`.repeat(2000)] as const);
  const files = { ...echoApp, ...Object.fromEntries(big), "img/bytes.bin": { base64: Buffer.from(Array.from({ length: 256 }, (_, i) => i)).toString("base64") } };
  const res = await nodes[0]!.api("/v1/previews?wait=1", { method: "POST", body: JSON.stringify({ files, tier: "fly" }) });
  const p = (await res.json()) as Preview;
  expect(p.status).toBe("running");
  const m = liveMachines().find((x) => x.config.metadata?.previewd_preview === p.id)!;
  expect(m.config.files!.map((f) => f.guest_path)).toEqual(["/app/.previewd/files.tgz", "/app/.previewd/start.json"]);
  expect(await (await nodes[1]!.preview(p.id, `/read?path=/app/data/chunk-39.txt`)).text()).toBe("line 39\n".repeat(2000));
  const bin = Buffer.from(await (await nodes[1]!.preview(p.id, `/read?path=/app/img/bytes.bin`)).arrayBuffer());
  expect(bin.length).toBeGreaterThan(0);
  expect((await nodes[0]!.api(`/v1/previews/${p.id}`, { method: "DELETE" })).status).toBe(204);
}, 120_000);

test("delete destroys the machine", async () => {
  const machineId = (await get(nodes[1]!, flyId)).fly!.machineId;
  expect((await nodes[1]!.api(`/v1/previews/${flyId}`, { method: "DELETE" })).status).toBe(204);
  expect((await nodes[0]!.api(`/v1/previews/${flyId}`)).status).toBe(404);
  await eventually("machine destroyed", async () => liveMachines().some((m) => m.id === machineId), (present) => !present, 20_000);
  expect((await nodes[0]!.preview(flyId, "/counter")).status).toBe(404);
}, 60_000);

test("kill -9 during a Fly create, then a restart: no machine without a record, no record without a machine", async () => {
  fake.fault("create", { kind: "delay", ms: 3000 }, 1);
  const pending = nodes[0]!.api("/v1/previews", { method: "POST", body: JSON.stringify({ files: echoApp, tier: "fly" }) }).catch(() => undefined);
  await Bun.sleep(1000); // the record is written, the machine create is in flight
  nodes[0]!.proc.kill("SIGKILL");
  await nodes[0]!.proc.exited;
  await pending;
  await Bun.sleep(2500); // the fake finishes the create the dead daemon asked for
  const restarted = await spawnDaemon(nodes[0]!.env, nodes[0]!.dataDir);
  spawned.push(restarted);
  nodes[0] = restarted;
  const consistent = async () => {
    const previews = ((await (await restarted.api("/v1/previews")).json()) as { previews: Preview[] }).previews.filter((p) => p.tier === "fly");
    const machines = liveMachines().filter((m) => m.config.metadata?.previewd_cluster === run);
    return { previews: previews.map((p) => `${p.id}:${p.fly?.machineId ?? "-"}:${p.status}`), machines: machines.map((m) => `${m.config.metadata?.previewd_preview}:${m.id}`) };
  };
  const state = await eventually("records and machines agree", consistent, (s) => s.previews.length === s.machines.length && s.previews.every((p) => s.machines.some((m) => p.startsWith(m))), 30_000);
  // The create landed after the kill: its record adopted the machine, and the app answers (woken if the idle sweep got it first).
  expect(state.previews.length).toBe(1);
  const id = state.previews[0]!.split(":")[0]!;
  await eventually("adopted preview started", () => get(restarted, id), (p) => p.status === "running" || p.status === "suspended", 60_000);
  expect(await (await restarted.preview(id, "/small")).text()).toBe("ok");
}, 180_000);

test("a token Fly refuses turns overflow off with a clear log line; tier fly is then 503 and nothing is recorded", async () => {
  const d = await spawnDaemon({ ...env, PREVIEWD_PEERS: "", PREVIEWD_CLUSTER_SECRET: "", PREVIEWD_NODE_ID: `${run}-bad`, FLY_API_TOKEN: "not-a-fly-token", DATABASE_URL: await freshDatabase() });
  spawned.push(d);
  expect(((await (await d.api("/v1/cluster")).json()) as { overflow: { fly: boolean } }).overflow.fly).toBe(false);
  expect(d.output()).toContain("Fly overflow is OFF");
  expect(d.output()).toContain("FLY_API_TOKEN");
  const res = await d.api("/v1/previews", { method: "POST", body: JSON.stringify({ files: echoApp, tier: "fly" }) });
  expect(res.status).toBe(503);
  expect(((await res.json()) as { error: { code: string } }).error.code).toBe("overflow_off");
  expect(((await (await d.api("/v1/previews")).json()) as { previews: unknown[] }).previews).toEqual([]);
}, 60_000);
