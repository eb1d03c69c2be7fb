// A daemon killed (kill -9) in the middle of an update (rehearsing or
// migrating a change that rewrites 300,000 production rows), then started
// again: the update finishes from where it was, with the same project, the
// change applied once, production's rows all there.
import { afterAll, beforeAll, expect, test } from "bun:test";
import postgres from "postgres";
import { startFakeRailway, type FakeRailway } from "../fakes/railway/index.ts";
import { ensureBaseImage } from "../support/docker.ts";
import { freshDatabase } from "../support/postgres.ts";
import { killDaemons, spawnDaemon, type DaemonProcess } from "../support/process.ts";
import { finished, tinyApp, waitForDeployment, type DeploymentJson } from "./helpers.ts";

let fake: FakeRailway;
let daemon: DaemonProcess | undefined;
const spawned: DaemonProcess[] = [];

beforeAll(async () => {
  fake = await startFakeRailway();
}, 120_000);

afterAll(async () => {
  await killDaemons(spawned);
  await fake?.stop();
}, 60_000);

test("kill -9 during an update, then a restart: the update goes live in the same project, the migration applied once", async () => {
  const databaseUrl = await freshDatabase();
  const env = {
    DATABASE_URL: databaseUrl, PREVIEWD_IMAGE: await ensureBaseImage(), PREVIEWD_NODE_ID: `update-resume-${process.pid}`, PREVIEWD_WARM_POOL: "0",
    RAILWAY_API_TOKEN: fake.token, RAILWAY_API_URL: fake.apiUrl, RAILWAY_EDGE_URL: fake.edgeUrl,
  };
  daemon = await spawnDaemon(env);
  spawned.push(daemon);
  const database = {
    migrations: ["CREATE TABLE events (id bigserial PRIMARY KEY, body text NOT NULL)"],
    seed: "INSERT INTO events (body) SELECT md5(g::text) FROM generate_series(1, 300000) g",
  };
  const created = await daemon.api("/v1/previews?wait=1", { method: "POST", body: JSON.stringify({ files: tinyApp({ marker: "before" }), database }) });
  expect(created.status).toBe(201);
  const p = (await created.json()) as { id: string };
  const deploy = async () => ((await (await daemon!.api(`/v1/previews/${p.id}/deploy`, { method: "POST", body: JSON.stringify({ provider: "railway" }) })).json()) as { deployment: DeploymentJson }).deployment;
  const first = await waitForDeployment(daemon.api, (await deploy()).id, finished, 300_000);
  expect(first.status).toBe("live");

  // A change that rewrites every row (a volatile default) and an index: seconds of work on 300,000 rows.
  const admin = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`SET search_path = preview_${p.id}; ALTER TABLE events ADD COLUMN token uuid NOT NULL DEFAULT gen_random_uuid(); CREATE INDEX events_token_idx ON events (token)`);
  } finally {
    await admin.end();
  }
  expect((await daemon.api(`/v1/previews/${p.id}/files`, { method: "PATCH", body: JSON.stringify({ files: tinyApp({ marker: "after" }) }) })).status).toBe(200);
  const prodUrl = fake.projects().find((x) => x.id === first.providerIds.projectId)!.services.find((s) => s.postgres)!.databaseUrl!;
  const prod = postgres(prodUrl, { max: 1, onnotice: () => {} });
  try {
    await prod`INSERT INTO events (body) VALUES ('production row')`;
    const update = await deploy();
    const midway = await waitForDeployment(daemon.api, update.id, (x) => x.status === "rehearsing" || x.status === "migrating" || finished(x), 180_000);
    expect(["rehearsing", "migrating"]).toContain(midway.status);
    daemon.proc.kill("SIGKILL");
    await daemon.proc.exited;

    daemon = await spawnDaemon(env, daemon.dataDir);
    spawned.push(daemon);
    const dep = await waitForDeployment(daemon.api, update.id, finished, 300_000);
    expect(dep.error).toBeUndefined();
    expect(dep.status).toBe("live");
    expect(dep.steps.map((s) => s.name)).toEqual(["diffing", "rehearsing", "migrating", "uploading", "building", "deploying", "live"]);
    expect(dep.providerIds.projectId).toBe(first.providerIds.projectId);
    expect(fake.calls().filter((c) => c.op === "projectCreate").length).toBe(1);
    // Applied once: the column and its index exist, every production row (the preview's 300,000 and its own) has a token.
    expect((await prod`SELECT count(*)::int AS n, count(DISTINCT token)::int AS t FROM events`)[0]).toEqual({ n: 300001, t: 300001 });
    expect((await prod`SELECT indexname FROM pg_indexes WHERE tablename = 'events' ORDER BY 1`).map((r) => r.indexname)).toEqual(["events_pkey", "events_token_idx"]);
    expect((await prod`SELECT nspname FROM pg_namespace WHERE nspname LIKE 'previewd_%'`).length).toBe(0);
    const served = await fetch(new URL("/", fake.edgeUrl), { headers: { host: dep.providerIds.domain! } });
    expect(await served.text()).toBe("after");
  } finally {
    await prod.end();
  }
}, 900_000);
