// A node cut off from everything but its users (issue 11, item 1: "no
// preview ever runs twice"): two real daemons on one PostgreSQL; node C's
// gossip and peer port are cut off from A by iptables (support/split.ts) and
// its database role is refused (NOLOGIN, its sessions ended), while C's proxy
// still takes requests. A takes C for dead and, once C's heartbeat is stale,
// takes over C's previews. Before it may, C fences itself: its proxy answers
// 503 node_isolated and its preview containers are paused. A has room for one
// preview, so of C's two one moves and one stays C's. When the cut ends C
// evicts the one that moved and resumes the other with its memory.
import { afterAll, beforeAll, expect, test } from "bun:test";
import postgres from "postgres";
import { echoApp } from "../fixtures/apps.ts";
import { aliveIds, containersOf, counter, createOn, eventually, stateOf } from "../support/cluster.ts";
import { ensureBaseImage, removeContainersByLabel } from "../support/docker.ts";
import { freshDatabase, testDatabaseUrl } from "../support/postgres.ts";
import { freePort, killDaemons, spawnDaemon, type DaemonProcess } from "../support/process.ts";
import { splitter } from "../support/split.ts";

const SECRET = "fenced-node-test-secret-0123456789";
const run = `fn${process.pid}${Date.now().toString(36)}`;
const ROLE = `fence_${run}`;
const { heal, split } = splitter("PREVIEWD-TEST-FENCE");
const idOf = (d: DaemonProcess) => d.env.PREVIEWD_NODE_ID!;
let admin: postgres.Sql;
let a: DaemonProcess;
let c: DaemonProcess;

beforeAll(async () => {
  await heal();
  const [databaseUrl, image] = await Promise.all([freshDatabase(), ensureBaseImage()]);
  admin = postgres(await testDatabaseUrl(), { max: 1, onnotice: () => {} });
  // C logs in as a role of its own, so the test can shut C alone out of the shared database.
  await admin.unsafe(`CREATE ROLE "${ROLE}" LOGIN SUPERUSER PASSWORD 'fence-pw'`);
  const cUrl = new URL(databaseUrl);
  cUrl.username = ROLE;
  cUrl.password = "fence-pw";
  const peerPorts = [await freePort(), await freePort()];
  const common = {
    PREVIEWD_IMAGE: image, PREVIEWD_PEERS: peerPorts.map((p) => `127.0.0.1:${p}`).join(","), PREVIEWD_CLUSTER_SECRET: SECRET,
    PREVIEWD_WARM_POOL: "0", PREVIEWD_GOSSIP_PROFILE: "local",
  };
  a = await spawnDaemon({ ...common, DATABASE_URL: databaseUrl, PREVIEWD_NODE_ID: `${run}-a`, PREVIEWD_PEER_PORT: String(peerPorts[0]), PREVIEWD_CAPACITY: "1" });
  c = await spawnDaemon({ ...common, DATABASE_URL: cUrl.toString(), PREVIEWD_NODE_ID: `${run}-c`, PREVIEWD_PEER_PORT: String(peerPorts[1]), PREVIEWD_CAPACITY: "3" });
  for (const n of [a, c]) await eventually("two alive", () => aliveIds(n), (x) => x.length === 2, 30_000);
}, 180_000);

afterAll(async () => {
  await heal();
  await admin?.unsafe(`ALTER ROLE "${ROLE}" LOGIN`).catch(() => {});
  await killDaemons([a, c].filter(Boolean));
  for (const n of [a, c].filter(Boolean)) await removeContainersByLabel(`previewd.node=${idOf(n)}`).catch(() => {});
  await admin?.end();
}, 60_000);

/** C is refused by the database (new logins and its open sessions), and cut off from A. */
async function isolateC(): Promise<void> {
  await split(c, [a]);
  await admin.unsafe(`ALTER ROLE "${ROLE}" NOLOGIN`);
  await admin`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = ${ROLE}`;
}

const ownerOf = async (id: string) => ((await (await a.api(`/v1/previews/${id}`)).json()) as { node: string }).node;
const statusThroughC = async (id: string) => (await c.preview(id, "/counter", { signal: AbortSignal.timeout(5000) })).status;

test("C cut off from the database and A: it stops serving before A takes over; afterwards one copy of each", async () => {
  const p1 = await createOn(c, echoApp);
  const p2 = await createOn(c, echoApp);
  expect([p1.node, p2.node]).toEqual([idOf(c), idOf(c)]);
  for (const p of [p1, p2]) for (let i = 1; i <= 3; i++) expect(await counter(c, p.id)).toBe(i);

  const t0 = performance.now();
  await isolateC();
  // Until one of them is A's: every sample, C either still serves its copies or refuses; once it refuses it
  // never serves again; and A owns nothing before C refuses.
  let fencedAt: number | undefined;
  let takenAt: number | undefined;
  let taken: string | undefined;
  while (takenAt === undefined) {
    expect(performance.now() - t0).toBeLessThan(60_000);
    const statuses = await Promise.all([p1, p2].map((p) => statusThroughC(p.id)));
    if (fencedAt !== undefined) expect(statuses).toEqual([503, 503]);
    else expect(statuses.every((s) => s === 200 || s === 503)).toBe(true); // a sample may straddle the moment
    if (fencedAt === undefined && statuses.every((s) => s === 503)) fencedAt = performance.now() - t0;
    for (const p of [p1, p2]) {
      if ((await ownerOf(p.id)) !== idOf(a)) continue;
      expect(fencedAt).toBeDefined(); // the claim came after C had stopped serving
      takenAt = performance.now() - t0;
      taken = p.id;
    }
    await Bun.sleep(100);
  }
  const kept = taken === p1.id ? p2.id : p1.id;
  // The refusal names the cause; C's copies are frozen, not just unrouted.
  const refusal = await c.preview(kept, "/counter");
  expect(refusal.status).toBe(503);
  expect(refusal.headers.get("retry-after")).toBeTruthy();
  expect(((await refusal.json()) as { error: { code: string } }).error.code).toBe("node_isolated");
  for (const id of [p1.id, p2.id]) expect((await containersOf(id)).find((x) => x.node === idOf(c))?.state).toBe("paused");
  // A runs the one it took, from its files (its memory stayed on C); it had room for one only.
  await eventually("taken preview answers through A", () => counter(a, taken!).catch(() => 0), (v) => v > 0, 60_000);
  expect(await ownerOf(kept)).toBe(idOf(c));
  expect(await stateOf(a, idOf(c))).toBe("dead");

  const t1 = performance.now();
  await heal();
  await admin.unsafe(`ALTER ROLE "${ROLE}" LOGIN`);
  for (const n of [a, c]) await eventually("healed: two alive", () => aliveIds(n), (x) => x.length === 2, 60_000);
  // C evicts the copy it lost and resumes the one it kept, with its memory (the counter goes on from 3).
  await eventually("C's copy of the taken preview removed", () => containersOf(taken!), (l) => l.length === 1 && l[0]!.node === idOf(a), 30_000);
  await eventually("kept preview serves again through C", () => statusThroughC(kept).catch(() => 0), (s) => s === 200, 30_000);
  expect(await counter(c, kept)).toBeGreaterThanOrEqual(5); // 3 before the cut, 1 just above: kept (a restart would count from 1)
  expect((await containersOf(kept)).map((x) => `${x.node} ${x.state}`)).toEqual([`${idOf(c)} running`]);
  expect(c.output()).toContain("fenced: no database and peers unreachable");
  expect(c.output()).toContain("fence lifted");
  console.log(
    `fence: C refused its previews ${fencedAt!.toFixed(0)} ms after the cut; A owned one ${takenAt!.toFixed(0)} ms after it; ` +
      `C served the kept one again ${(performance.now() - t1).toFixed(0)} ms after the cut ended`,
  );
}, 240_000);
