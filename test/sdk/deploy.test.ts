// client.deploy() against a real daemon deploying to the local fake Railway
// (test/fakes/railway: real GraphQL, real builds in containers): progress
// arrives from the event stream, the promise resolves with the live
// deployment, and a failed build rejects with PreviewdError naming the step.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { createClient, PreviewdError, type Deployment, type PreviewdClient } from "../../sdk/src/index.ts";
import { startFakeRailway, type FakeRailway } from "../fakes/railway/index.ts";
import { eventually } from "../support/eventually.ts";
import { startTestDaemon, type TestDaemon } from "../support/daemon.ts";
import { messageApp } from "./app.ts";

let fake: FakeRailway;
let d: TestDaemon;
let admin: PreviewdClient;

beforeAll(async () => {
  fake = await startFakeRailway();
  d = await startTestDaemon({ RAILWAY_API_TOKEN: fake.token, RAILWAY_API_URL: fake.apiUrl, RAILWAY_EDGE_URL: fake.edgeUrl, PREVIEWD_WARM_POOL: "1" }, { deployPollMs: 200 });
  admin = createClient({ baseUrl: `http://127.0.0.1:${d.apiPort}`, token: d.token });
}, 180_000);

afterAll(async () => {
  await d?.cleanup();
  await fake?.stop();
}, 60_000);

test("deploy resolves with the live deployment, reporting each step on the way", async () => {
  const p = await admin.previews.create({ files: messageApp("deployed by the sdk") }, { wait: true });
  const progress: Deployment[] = [];
  const live = await admin.deploy(p.id, { projectName: "sdk-deployed" }, { onProgress: (dep) => progress.push(dep) });
  expect(live.status).toBe("live");
  expect(live.url).toMatch(/^https:\/\/\S+\.up\.railway\.app$/);
  expect(progress[0]!.status).toBe("queued"); // the POST's answer comes first
  const statuses = progress.map((x) => x.status);
  expect(statuses).toContain("building");
  expect(statuses.at(-1)).toBe("live");
  expect(live.steps.map((s) => s.name)).toContain("building");
  expect((await admin.deployments.list(p.id)).map((x) => x.id)).toEqual([live.id]);
  expect((await admin.deployments.get(live.id)).status).toBe("live");
  expect(live.mode).toBe("create");
  // Deploy again: the same project is updated; then the previous code goes back with a rollback.
  await admin.previews.updateFiles(p.id, messageApp("deployed again by the sdk"));
  const again = await admin.deploy(p.id);
  expect([again.mode, again.status, again.providerIds?.projectId]).toEqual(["update", "live", live.providerIds?.projectId]);
  const back = await admin.deployments.rollback(again.id);
  expect(back.mode).toBe("rollback");
  await eventually("rollback live", () => admin.deployments.get(back.id), (x) => x.status === "live" || x.status === "failed", 120_000, 250);
  expect((await admin.deployments.get(back.id)).status).toBe("live");
  expect((await admin.deployments.remove(live.id)).status).toBe("removed");
  await admin.previews.remove(p.id);
}, 300_000);

test("a failed build rejects with PreviewdError carrying the failing step", async () => {
  const files = messageApp("broken");
  files["package.json"] = JSON.stringify({ name: "broken", private: true, scripts: { start: "node server.js", build: "node -e \"console.error('sdk-build-broke'); process.exit(3)\"" } });
  const p = await admin.previews.create({ files }, { wait: true });
  const e = await admin.deploy(p.id).then(() => undefined, (err: unknown) => err);
  expect(e).toBeInstanceOf(PreviewdError);
  const err = e as PreviewdError;
  expect([err.code, err.step]).toEqual(["deploy_failed", "building"]);
  expect(err.message).toContain("sdk-build-broke");
  const failed = (err.details as { deployment: Deployment }).deployment;
  expect(failed.status).toBe("failed");
  await admin.deployments.remove(failed.id).catch(() => {});
  await admin.previews.remove(p.id);
}, 300_000);
