// Start and wake latencies, and memory per preview, measured on a real daemon.
//   bun scripts/bench/starts.ts [runs=20] [density=20]
// warm: POST ?wait=1 -> first 200 through the proxy, with a warm container ready
// cold: the same with an empty pool (container created on demand)
// wake: a request to a suspended (paused) preview -> its 200
// density: MemAvailable drop per idle running and per suspended preview
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Docker from "dockerode";
import { loadConfig } from "../../src/config.ts";
import { startDaemon, type Daemon } from "../../src/daemon.ts";
import { createLogger } from "../../src/log.ts";
import { echoApp } from "../../test/fixtures/apps.ts";
import { memAvailableMiB, printTable, round, saveResults, summary } from "./lib.ts";

const runs = Number(process.argv[2] ?? 20);
const density = Number(process.argv[3] ?? 20);
const nodeId = `bench-${Date.now().toString(36)}`;
const dataDir = mkdtempSync(join(tmpdir(), "previewd-bench-"));
chmodSync(dataDir, 0o711); // the embedded PostgreSQL (user postgres) must pass through to data/postgres
const docker = new Docker();

async function boot(warm: number): Promise<Daemon> {
  const config = loadConfig({
    // Its wakes are one identical request each, spaced out like a poller's: counted as use (src/pool/polls.ts).
    PREVIEWD_IDLE_POLLS: "count",
    ...process.env, PREVIEWD_NODE_ID: nodeId, PREVIEWD_DATA_DIR: dataDir, PREVIEWD_API_PORT: "0", PREVIEWD_PROXY_PORT: "0",
    PREVIEWD_WARM_POOL: String(warm), PREVIEWD_CAPACITY: "1000", PREVIEWD_API_TOKEN: "bench-token-0123456789",
  });
  return startDaemon(config, createLogger("warn"), { labels: { "previewd.bench": "1" } });
}

const api = (d: Daemon, path: string, init: RequestInit = {}) =>
  fetch(`http://127.0.0.1:${d.apiPort}${path}`, { ...init, headers: { authorization: `Bearer ${d.token}`, "content-type": "application/json" } });
const viaProxy = (d: Daemon, id: string, path = "/small") => fetch(`http://127.0.0.1:${d.proxyPort}${path}`, { headers: { host: `${id}.localhost` } });

async function startOnce(d: Daemon): Promise<{ id: string; ms: number }> {
  const t0 = performance.now();
  const res = await api(d, "/v1/previews?wait=1", { method: "POST", body: JSON.stringify({ files: echoApp }) });
  const { id, status } = (await res.json()) as { id: string; status: string };
  if (status !== "running") throw new Error(`preview ${id} is ${status}`);
  const first = await viaProxy(d, id);
  await first.text();
  if (first.status !== 200) throw new Error(`first request: ${first.status}`);
  return { id, ms: performance.now() - t0 };
}

async function waitForPool(d: Daemon, size: number) {
  while (d.orchestrator.pool.available < size) await Bun.sleep(20);
  await Bun.sleep(200); // let the engine settle after the last create
}

async function removeAll(d: Daemon, ids: string[]) {
  for (const id of ids) await api(d, `/v1/previews/${id}`, { method: "DELETE" });
}

async function main() {
  const results: Record<string, unknown> = {};
  // warm
  let d = await boot(2);
  const warm: number[] = [];
  const ids: string[] = [];
  for (let i = 0; i < runs; i++) {
    await waitForPool(d, 2);
    const r = await startOnce(d);
    warm.push(r.ms);
    ids.push(r.id);
  }
  // wake
  const wake: number[] = [];
  for (const id of ids) {
    await viaProxy(d, id).then((r) => r.text());
    await api(d, `/v1/previews/${id}/suspend`, { method: "POST" });
    const t0 = performance.now();
    const r = await viaProxy(d, id);
    await r.text();
    wake.push(performance.now() - t0);
  }
  // a plain request to a running preview through the proxy, for scale
  const hot: number[] = [];
  for (let i = 0; i < 200; i++) {
    const t0 = performance.now();
    await (await viaProxy(d, ids[0]!)).text();
    hot.push(performance.now() - t0);
  }
  await removeAll(d, ids);
  await d.stop();

  // cold
  d = await boot(0);
  const cold: number[] = [];
  const coldIds: string[] = [];
  for (let i = 0; i < runs; i++) {
    const r = await startOnce(d);
    cold.push(r.ms);
    coldIds.push(r.id);
  }
  await removeAll(d, coldIds);

  // density
  await Bun.sleep(1000);
  const base = memAvailableMiB();
  const many: string[] = [];
  for (let i = 0; i < density; i++) many.push((await startOnce(d)).id);
  await Bun.sleep(3000);
  const running = memAvailableMiB();
  for (const id of many) await api(d, `/v1/previews/${id}/suspend`, { method: "POST" });
  await Bun.sleep(2000);
  const suspended = memAvailableMiB();
  const perRunning = (base - running) / density;
  const perSuspended = (base - suspended) / density;
  await removeAll(d, many);
  await d.stop();

  const rows = [
    { measure: "warm start (POST -> first 200)", ...summary(warm), target_p95: "< 500 ms" },
    { measure: "cold start (POST -> first 200)", ...summary(cold), target_p95: "< 2000 ms" },
    { measure: "wake from suspend (request -> 200)", ...summary(wake), target_p95: "< 100 ms" },
    { measure: "reference: request to a running preview", ...summary(hot), target_p95: "" },
  ];
  printTable(`Start latencies, ms (${runs} runs each)`, rows);
  printTable(`Host memory per preview (${density} previews, MemAvailable delta)`, [
    { state: "idle running", "MiB each": round(perRunning), "fit in 8 GiB": Math.floor(8192 / perRunning) },
    { state: "suspended (paused)", "MiB each": round(perSuspended), "fit in 8 GiB": Math.floor(8192 / perSuspended) },
  ]);
  Object.assign(results, { warm: summary(warm), cold: summary(cold), wake: summary(wake), hot: summary(hot), memoryMiB: { running: round(perRunning), suspended: round(perSuspended), previews: density } });
  saveResults("starts", results);
}

try {
  await main();
} finally {
  const left = await docker.listContainers({ all: true, filters: { label: [`previewd.node=${nodeId}`] } });
  await Promise.all(left.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => {})));
  rmSync(dataDir, { recursive: true, force: true });
}
