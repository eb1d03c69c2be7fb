// A daemon killed (kill -9) in the middle of the restore step, then started
// again: the deployment finishes from where it was, with one project at the
// provider and the data verified.
import { afterAll, beforeAll, expect, test } from "bun:test";
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

test("kill -9 during the restore, then a restart: the deployment goes live with one project", async () => {
  const env = {
    DATABASE_URL: await freshDatabase(), PREVIEWD_IMAGE: await ensureBaseImage(), PREVIEWD_NODE_ID: `resume-${process.pid}`, PREVIEWD_WARM_POOL: "0",
    RAILWAY_API_TOKEN: fake.token, RAILWAY_API_URL: fake.apiUrl, RAILWAY_EDGE_URL: fake.edgeUrl,
  };
  daemon = await spawnDaemon(env);
  spawned.push(daemon);
  // Enough rows that the restore takes a while (about 60 MB of dump).
  const database = {
    migrations: ["CREATE TABLE events (id bigserial PRIMARY KEY, body text NOT NULL)"],
    seed: "INSERT INTO events (body) SELECT repeat(md5(g::text), 4) FROM generate_series(1, 400000) g",
  };
  const created = await daemon.api("/v1/previews?wait=1", { method: "POST", body: JSON.stringify({ files: tinyApp({ marker: "resumed" }), database }) });
  expect(created.status).toBe(201);
  const p = (await created.json()) as { id: string };
  const res = await daemon.api(`/v1/previews/${p.id}/deploy`, { method: "POST", body: JSON.stringify({ provider: "railway" }) });
  const started = ((await res.json()) as { deployment: DeploymentJson }).deployment;

  const restoring = await waitForDeployment(daemon.api, started.id, (x) => x.status === "restoring" || finished(x), 180_000);
  expect(restoring.status).toBe("restoring");
  daemon.proc.kill("SIGKILL");
  await daemon.proc.exited;

  daemon = await spawnDaemon(env, daemon.dataDir);
  spawned.push(daemon);
  const dep = await waitForDeployment(daemon.api, started.id, finished, 300_000);
  expect(dep.error).toBeUndefined();
  expect(dep.status).toBe("live");
  expect(dep.data).toEqual({ tables: 1, rows: 400000, sequences: 1, verified: true });
  const mine = fake.projects().filter((x) => x.name === `preview-${p.id}`);
  expect(mine.length).toBe(1);
  expect(fake.calls().filter((c) => c.op === "projectCreate").length).toBe(1);
  expect(mine[0]!.services.filter((s) => s.postgres).length).toBe(1);
}, 600_000);
