// kill -9 of the daemon loses no preview: on restart it adopts its running
// containers, and the preview answers with its in-memory state.
import { afterAll, expect, test } from "bun:test";
import { echoApp } from "../fixtures/apps.ts";
import { ensureBaseImage } from "../support/docker.ts";
import { testDatabaseUrl } from "../support/postgres.ts";
import { killDaemons, spawnDaemon, type DaemonProcess } from "../support/process.ts";

const nodeId = `restart-${process.pid}-${Date.now().toString(36)}`;
let current: DaemonProcess | undefined;

afterAll(() => killDaemons([current]));

test("kill -9 and restart: the same preview answers with its in-memory state", async () => {
  const [databaseUrl, image] = await Promise.all([testDatabaseUrl(), ensureBaseImage()]);
  current = await spawnDaemon({ DATABASE_URL: databaseUrl, PREVIEWD_NODE_ID: nodeId, PREVIEWD_IMAGE: image });
  const created = await current.api("/v1/previews?wait=1", { method: "POST", body: JSON.stringify({ files: echoApp }) });
  expect(created.status).toBe(201);
  const { id, status } = (await created.json()) as { id: string; status: string };
  expect(status).toBe("running");
  expect(await (await current.preview(id, "/counter")).text()).toBe("1");
  expect(await (await current.preview(id, "/counter")).text()).toBe("2");

  current.proc.kill("SIGKILL");
  await current.proc.exited;
  const t0 = performance.now();
  current = await spawnDaemon(current.env, current.dataDir);
  const res = await current.preview(id, "/counter");
  const downMs = performance.now() - t0;
  expect(res.status).toBe(200);
  expect(await res.text()).toBe("3");
  const view = (await (await current.api(`/v1/previews/${id}`)).json()) as { status: string };
  expect(view.status).toBe("running");
  console.log(`restart to first answer: ${downMs.toFixed(0)} ms`);
});
