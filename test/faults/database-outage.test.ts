// PostgreSQL unreachable for a while (issue 11, item 3): its database refuses
// connections (ALLOW_CONNECTIONS false, the daemon's sessions ended), as in a
// restart or a network blip. Running previews keep answering from memory; the
// API answers 503 with Retry-After; a create fails cleanly and leaves no
// container; when the database is back the API answers again and the idle
// clock's times written during the outage catch up.
import { afterAll, beforeAll, expect, test } from "bun:test";
import Docker from "dockerode";
import postgres from "postgres";
import { echoApp } from "../fixtures/apps.ts";
import { createPreview, startTestDaemon, type TestDaemon } from "../support/daemon.ts";
import { eventually } from "../support/eventually.ts";
import { freshDatabase, testDatabaseUrl } from "../support/postgres.ts";

let d: TestDaemon;
let admin: postgres.Sql;
let dbName = "";

beforeAll(async () => {
  const url = await freshDatabase();
  dbName = new URL(url).pathname.slice(1);
  admin = postgres(await testDatabaseUrl(), { max: 1, onnotice: () => {} });
  d = await startTestDaemon({ DATABASE_URL: url, PREVIEWD_WARM_POOL: "1" });
}, 60_000);

afterAll(async () => {
  await admin?.unsafe(`ALTER DATABASE "${dbName}" ALLOW_CONNECTIONS true`).catch(() => {});
  await d?.cleanup();
  await admin?.end();
});

const containersOfNode = async () => (await new Docker().listContainers({ all: true, filters: { label: [`previewd.node=${d.nodeId}`, "previewd.preview"] } })).length;

test("while PostgreSQL refuses connections: previews answer, the API says 503 + Retry-After, a create leaves nothing; afterwards all catches up", async () => {
  const p = await createPreview(d, { files: echoApp });
  expect(await (await d.preview(p.id, "/counter")).text()).toBe("1");

  // The outage: no new connections to the daemon's database, its sessions ended.
  await admin.unsafe(`ALTER DATABASE "${dbName}" ALLOW_CONNECTIONS false`);
  await admin`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = ${dbName}`;
  const outageStarted = Date.now();
  try {
    // Previews run from memory: the proxy's path needs no database.
    expect(await (await d.preview(p.id, "/counter")).text()).toBe("2");
    const list = await d.api("/v1/previews");
    expect(list.status).toBe(503);
    expect(list.headers.get("retry-after")).toBe("5");
    const body = (await list.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe("database_unavailable");
    expect(body.error.message).toContain("running previews keep answering");

    const before = await containersOfNode();
    const created = await d.api("/v1/previews", { method: "POST", body: JSON.stringify({ files: echoApp }) });
    expect(created.status).toBe(503);
    expect(created.headers.get("retry-after")).toBe("5");
    // The container it claimed went back or away: nothing was left for a preview that does not exist.
    await eventually("no extra container", containersOfNode, (n) => n <= before, 20_000);
    // The idle clock's flush (every 5 s) writing the activity above fails now: it must not be lost.
    await eventually("the request during the outage reached the idle clock", async () => d.orchestrator.idle.lastActiveAt(p.id) ?? 0, (t) => t >= outageStarted, 10_000);
    await d.orchestrator.flushActivity();
  } finally {
    await admin.unsafe(`ALTER DATABASE "${dbName}" ALLOW_CONNECTIONS true`);
  }

  // Back: the API answers, the preview is as it was, and its last activity (during the outage) reached the record.
  const view = await eventually("API answers again", async () => (await d.api(`/v1/previews/${p.id}`)).json() as Promise<{ status: string; lastActiveAt: string }>, (v) => v.status === "running", 30_000);
  expect(view.status).toBe("running");
  const store = postgres(d.databaseUrl, { max: 1, onnotice: () => {} });
  try {
    await eventually(
      "last activity written",
      async () => ((await store`SELECT last_active_at FROM previewd.previews WHERE id = ${p.id}`)[0]!.last_active_at as Date).getTime(),
      (t) => t >= outageStarted,
      20_000,
      500,
    );
  } finally {
    await store.end();
  }
  expect(await (await d.preview(p.id, "/counter")).text()).toBe("3");
}, 120_000);
