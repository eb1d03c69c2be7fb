// Drift between records, containers and the routing table (issue 11, item 4),
// made behind a real daemon's back with the real Docker engine and
// PostgreSQL, the drift loop at its 1 s minimum:
//  - a running preview's container removed (`docker rm -f`): it answers
//    again (a new container from its stored files), status running;
//  - a container with this node's labels that no record explains: removed;
//  - a preview's record deleted from the store: its route and container go;
// and /metrics counts each kind in previewd_drift_total.
import { afterAll, beforeAll, expect, test } from "bun:test";
import Docker from "dockerode";
import postgres from "postgres";
import { echoApp } from "../fixtures/apps.ts";
import { containersOf, createOn, eventually } from "../support/cluster.ts";
import { ensureBaseImage } from "../support/docker.ts";
import { freshDatabase } from "../support/postgres.ts";
import { killDaemons, spawnDaemon, type DaemonProcess } from "../support/process.ts";

const docker = new Docker();
const nodeId = `drift-${process.pid}-${Date.now().toString(36)}`;
let d: DaemonProcess;
let databaseUrl = "";
let image = "";

beforeAll(async () => {
  [databaseUrl, image] = await Promise.all([freshDatabase(), ensureBaseImage()]);
  d = await spawnDaemon({ DATABASE_URL: databaseUrl, PREVIEWD_NODE_ID: nodeId, PREVIEWD_IMAGE: image, PREVIEWD_WARM_POOL: "1", PREVIEWD_RECONCILE_INTERVAL: "1" });
}, 120_000);

afterAll(async () => {
  await killDaemons([d]);
});

/** previewd_drift_total by kind, from the daemon's /metrics. */
async function drift(): Promise<Record<string, number>> {
  const text = await (await d.api("/metrics")).text();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^previewd_drift_total\{kind="([a-z_]+)"\} (\d+)$/gm)) out[m[1]!] = Number(m[2]);
  return out;
}

const statusOf = async (id: string) => ((await (await d.api(`/v1/previews/${id}`)).json()) as { status: string }).status;

test("every kind of drift is exported, at 0 before any, and promtool finds nothing to say", async () => {
  const counts = await drift();
  for (const kind of ["container_missing", "container_stopped", "route_stale", "record_missing", "record_unrun", "orphan_container", "disk_read_only"]) expect(counts[kind]).toBe(0);
  const text = await (await d.api("/metrics")).text();
  expect(text).toMatch(/^previewd_gossip_local_health 0$/m); // a single node: no gossip, healthy
  if (Bun.which("promtool")) {
    const r = Bun.spawnSync(["promtool", "check", "metrics"], { stdin: new TextEncoder().encode(text), stdout: "pipe", stderr: "pipe" });
    expect((r.stdout.toString() + r.stderr.toString()).trim()).toBe("");
  }
});

test("a running preview's container removed behind the daemon's back: it comes back and answers", async () => {
  const { id } = await createOn(d, echoApp);
  expect((await d.preview(id, "/counter")).status).toBe(200);
  const [before] = await docker.listContainers({ all: true, filters: { label: [`previewd.preview=${id}`] } });
  expect(before).toBeDefined();
  const t0 = performance.now();
  await docker.getContainer(before!.Id).remove({ force: true });
  await eventually("answers again", () => d.preview(id, "/counter").then((r) => r.status), (s) => s === 200, 60_000);
  const ms = performance.now() - t0;
  // The proxy forwards as soon as the app answers; readiness writes "running" a poll later.
  await eventually("status running", () => statusOf(id), (s) => s === "running", 10_000);
  const now = await containersOf(id);
  expect(now).toHaveLength(1); // one new container, not two
  expect(now[0]!.state).toBe("running");
  expect((await drift()).container_missing).toBeGreaterThanOrEqual(1);
  console.log(`container removed by hand: answering again after ${ms.toFixed(0)} ms`);
});

test("a labelled container no record explains is removed", async () => {
  const stray = await docker.createContainer({
    Image: image, Entrypoint: ["sleep"], Cmd: ["600"],
    Labels: { "previewd.node": nodeId, "previewd.preview": "strayzzzzzzzzzzz" },
    HostConfig: { AutoRemove: false },
  });
  await stray.start();
  const t0 = performance.now();
  await eventually("stray removed", () => containersOf("strayzzzzzzzzzzz"), (l) => l.length === 0, 30_000);
  console.log(`orphan container removed after ${(performance.now() - t0).toFixed(0)} ms`);
  expect((await drift()).orphan_container).toBeGreaterThanOrEqual(1);
  // The warm spare (an idle runner with no record either) was left alone.
  const cluster = (await (await d.api("/v1/cluster")).json()) as { warmPool: { available: number } };
  expect(cluster.warmPool.available).toBe(1);
  expect(d.output()).toContain('"kind":"orphan_container"');
});

test("a preview whose record is gone from the store stops being routed, and its container goes", async () => {
  const { id } = await createOn(d, echoApp);
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  try {
    await sql`DELETE FROM previewd.previews WHERE id = ${id}`;
  } finally {
    await sql.end();
  }
  await eventually("container removed", () => containersOf(id), (l) => l.length === 0, 30_000);
  await eventually("not routed", () => d.preview(id, "/counter").then((r) => r.status), (s) => s === 404, 10_000);
  // Each drift counted once, and no operation in flight (the creates here) was ever taken for drift.
  expect(await drift()).toEqual({ container_missing: 1, container_stopped: 0, route_stale: 0, record_missing: 1, record_unrun: 0, orphan_container: 1, disk_read_only: 0 });
});
