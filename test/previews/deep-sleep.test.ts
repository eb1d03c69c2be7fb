// Deep sleep with the real engine (cgroup v1 here): a counter app whose state
// lives in memory is suspended, then reclaimed (its container's cgroup
// usage drops to about the floor: its memory went to swap), then woken by
// HTTP requests, many at once, with its count and its heap intact. Needs
// swap on the host (scripts/test sets it up as root: scripts/lib/swap.sh);
// without it the daemon says deep sleep cannot work and this test fails.
import { afterAll, beforeAll, expect, test } from "bun:test";
import Docker from "dockerode";
import { readFileSync } from "node:fs";
import { v1MemoryDir } from "../../src/sleep/cgroup-paths.ts";
import { createPreview, startTestDaemon, type TestDaemon } from "../support/daemon.ts";
import { ensureBaseImage } from "../support/docker.ts";
import { eventually } from "../support/eventually.ts";
import { testDatabaseUrl } from "../support/postgres.ts";
import { killDaemons, spawnDaemon, type DaemonProcess } from "../support/process.ts";

// ~60 MiB of small objects (as a dev server's module graph is), a checksum over all of them, and a counter
// (on /count only: the readiness check asks for /).
const counterApp = {
  "server.js": `
    const heap = []; for (let i = 0; i < 250000; i++) heap.push({ i, name: "module-" + (i % 997) + "-" + i.toString(36), deps: [i, i + 1, i + 2] });
    let count = 0;
    const sum = () => { let s = 0; for (const m of heap) s += m.deps[1]; return s; };
    require("http").createServer((req, res) => res.end(req.url === "/count" ? JSON.stringify({ count: ++count, sum: sum() }) : "ok")).listen(process.env.PORT);
  `,
};

let d: TestDaemon;
beforeAll(async () => {
  d = await startTestDaemon({ PREVIEWD_IDLE_TIMEOUT: "1", PREVIEWD_RECLAIM_AFTER: "1", PREVIEWD_STOP_AFTER: "600", PREVIEWD_WARM_POOL: "0" });
});
let spawned: DaemonProcess | undefined;
afterAll(async () => {
  await killDaemons([spawned]);
  await d?.cleanup();
});

const viewOf = async (id: string) => (await (await d.api(`/v1/previews/${id}`)).json()) as { status: string; sleep?: string };

test("suspended, reclaimed to about the floor, woken by concurrent requests: all answer, count and heap kept", async () => {
  const swap = Number(/^SwapTotal:\s+(\d+)/m.exec(readFileSync("/proc/meminfo", "utf8"))?.[1] ?? 0);
  expect(swap).toBeGreaterThan(0); // no swap: deep sleep cannot work (the daemon says so at start); this test then fails
  const { id } = await createPreview(d, { files: counterApp, command: ["node", "server.js"] });
  const first = (await (await d.preview(id, "/count")).json()) as { count: number; sum: number };
  expect(first.count).toBe(1);
  const [c] = await new Docker().listContainers({ all: true, filters: { label: [`previewd.preview=${id}`] } });
  const dir = v1MemoryDir("/sys/fs/cgroup", c!.Id)!;
  expect(dir).toBeDefined();
  const usage = () => Number(readFileSync(`${dir}/memory.usage_in_bytes`, "utf8")) / 1048576;
  const awake = usage();
  expect(awake).toBeGreaterThan(50);

  await eventually("frozen", () => viewOf(id), (v) => v.status === "suspended" && v.sleep === "frozen", 10_000, 20);
  await eventually("reclaimed", () => viewOf(id), (v) => v.sleep === "reclaimed", 10_000, 50);
  const asleep = usage();
  const metrics = await (await d.api("/metrics")).text();
  expect(metrics).toContain('previewd_previews_asleep{sleep="reclaimed"} 1');
  expect(metrics).toMatch(/^previewd_memory_free_bytes \d+/m);
  console.log(`deep sleep: ${awake.toFixed(1)} MiB awake -> ${asleep.toFixed(1)} MiB reclaimed`);
  expect(asleep).toBeLessThan(20); // floor 12 MiB, a little over where the kernel keeps a few pages

  const t0 = performance.now();
  const answers = await Promise.all(Array.from({ length: 20 }, () => d.preview(id, "/count").then(async (r) => ({ status: r.status, body: (await r.json()) as { count: number; sum: number } }))));
  console.log(`wake from deep sleep, 20 concurrent requests: ${(performance.now() - t0).toFixed(0)} ms`);
  expect(answers.every((a) => a.status === 200)).toBe(true);
  expect(answers.map((a) => a.body.count).sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 2));
  expect(answers.every((a) => a.body.sum === first.sum)).toBe(true);
  const v = await viewOf(id);
  expect(v.sleep).toBeUndefined();
  // The limit is whole again: the awake app may use its memory (read back from its cgroup).
  expect(Number(readFileSync(`${dir}/memory.limit_in_bytes`, "utf8"))).toBe(512 * 1024 * 1024);
});

test("kill -9 while reclaimed: the restarted daemon knows it (the store), gives the limit back before the thaw, count kept", async () => {
  const [databaseUrl, image] = await Promise.all([testDatabaseUrl(), ensureBaseImage()]);
  const env = { DATABASE_URL: databaseUrl, PREVIEWD_NODE_ID: `deepsleep-${process.pid}-${Date.now().toString(36)}`, PREVIEWD_IMAGE: image, PREVIEWD_RECLAIM_AFTER: "1", PREVIEWD_WARM_POOL: "0" };
  spawned = await spawnDaemon(env);
  const created = await spawned.api("/v1/previews?wait=1", { method: "POST", body: JSON.stringify({ files: counterApp, command: ["node", "server.js"] }) });
  const { id } = (await created.json()) as { id: string };
  expect(await (await spawned.preview(id, "/count")).json()).toMatchObject({ count: 1 });
  await spawned.api(`/v1/previews/${id}/suspend`, { method: "POST" });
  const view = async () => (await (await spawned!.api(`/v1/previews/${id}`)).json()) as { status: string; sleep?: string };
  await eventually("reclaimed", view, (v) => v.sleep === "reclaimed", 10_000, 50);
  const [c] = await new Docker().listContainers({ all: true, filters: { label: [`previewd.preview=${id}`] } });
  const dir = v1MemoryDir("/sys/fs/cgroup", c!.Id)!;
  expect(Number(readFileSync(`${dir}/memory.limit_in_bytes`, "utf8"))).toBeLessThan(64 * 1024 * 1024);

  spawned.proc.kill("SIGKILL");
  await spawned.proc.exited;
  spawned = await spawnDaemon(spawned.env, spawned.dataDir);
  expect(await view()).toMatchObject({ status: "suspended", sleep: "reclaimed" });
  const res = await spawned.preview(id, "/count");
  expect(res.status).toBe(200);
  expect(await res.json()).toMatchObject({ count: 2 });
  expect(Number(readFileSync(`${dir}/memory.limit_in_bytes`, "utf8"))).toBe(512 * 1024 * 1024);
});
