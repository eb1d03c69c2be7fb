// Density with deep sleep (issue 29): N real Vite + React previews
// (test/fixtures/apps/vite-react, container tier), each loaded once in
// Chromium, then suspended (frozen), then reclaimed (memory pushed to swap);
// host MemAvailable per preview at each stage. Then wake latency, first
// byte of a counter app whose state is in memory (count checked), woken
// from deep sleep, beside references from the same run: the same request
// to a running preview and a wake from a frozen (not reclaimed) one; and a
// whole Vite page in Chromium after deep sleep.
//   bun scripts/bench/density.ts [--previews=5] [--counters=5] [--wakes=4]
// Needs swap (scripts/lib/swap.sh) and root, as deep sleep itself does.
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser } from "playwright-core";
import { loadConfig } from "../../src/config.ts";
import { startDaemon, type Daemon } from "../../src/daemon.ts";
import { createLogger } from "../../src/log.ts";
import { loadApp } from "../../test/fixtures/apps/index.ts";
import { launchBrowser, pageJournal } from "../../test/support/browser.ts";
import { removeContainersByLabel } from "../../test/support/docker.ts";
import { existsSync, readFileSync } from "node:fs";
import Docker from "dockerode";
import { releaseAllDisks } from "../../src/pool/disk.ts";
import { v1MemoryDir, v2Dir } from "../../src/sleep/cgroup-paths.ts";
import { memAvailableMiB, printTable, round, runBench, summary } from "./lib.ts";

const flag = (name: string, def: number) => Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1] ?? def);
const N = flag("previews", 5);
const COUNTERS = flag("counters", 5);
const WAKES = flag("wakes", 4);
const nodeId = `density-${Date.now().toString(36)}`;
const dataDir = mkdtempSync(join(tmpdir(), "previewd-density-"));
chmodSync(dataDir, 0o711);

const counterApp = {
  "server.js": `
    const heap = []; for (let i = 0; i < 250000; i++) heap.push({ i, name: "module-" + (i % 997) + "-" + i.toString(36), deps: [i, i + 1, i + 2] });
    let count = 0;
    require("http").createServer((req, res) => res.end(req.url === "/count" ? String(++count) : "ok")).listen(process.env.PORT);
  `,
};

let d: Daemon | undefined;
let browser: Browser | undefined;
const api = (path: string, init: RequestInit = {}) =>
  fetch(`http://127.0.0.1:${d!.apiPort}${path}`, { ...init, headers: { authorization: `Bearer ${d!.token}`, "content-type": "application/json" } });
const view = async (id: string) => (await (await api(`/v1/previews/${id}`)).json()) as { status: string; sleep?: string; error?: string };
const pageUrl = (id: string) => `http://${id}.localhost:${d!.proxyPort}/`;

async function until(what: string, ok: () => Promise<boolean>, ms: number) {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await Bun.sleep(50);
  }
}

async function create(files: object, command?: string[]): Promise<string> {
  const res = await api("/v1/previews?wait=1", { method: "POST", body: JSON.stringify({ files, tier: "container", ...(command && { command }) }) });
  const v = (await res.json()) as { id: string; status: string; error?: string };
  if (v.status !== "running") throw new Error(`create: ${res.status} ${JSON.stringify(v)}`);
  return v.id;
}

/**
 * A whole Vite page in a fresh Chromium context: #root rendered. Milliseconds. Chromium aborts requests in
 * flight with net::ERR_NETWORK_CHANGED when an interface comes or goes (every container start on a shared
 * machine adds a veth): such a load is done again from the start, at most twice, and counted in `retried`.
 */
let retried = 0;
async function loadPage(id: string, attempt = 1): Promise<number> {
  try {
    return await loadPageOnce(id);
  } catch (e) {
    if (attempt >= 3 || !String((e as Error).message).includes("ERR_NETWORK_CHANGED")) throw e;
    retried++;
    return loadPage(id, attempt + 1);
  }
}

async function loadPageOnce(id: string): Promise<number> {
  const ctx = await browser!.newContext();
  try {
    const page = await ctx.newPage();
    const journal = pageJournal(page);
    const t0 = performance.now();
    try {
      await page.goto(pageUrl(id), { waitUntil: "commit", timeout: 120_000 });
      await page.waitForSelector("#root *", { state: "attached", timeout: 60_000 });
    } catch (e) {
      const logs = await (await api(`/v1/previews/${id}/logs?tail=15`)).text().catch(() => "?");
      throw new Error(`${(e as Error).message.split("\n")[0]} | page: ${journal.summary()} | app: ${logs.slice(-1500)}`);
    }
    return performance.now() - t0;
  } finally {
    await ctx.close();
  }
}

const suspend = (id: string) => api(`/v1/previews/${id}/suspend`, { method: "POST" });
const reclaimed = (id: string) => until(`${id} reclaimed`, async () => (await view(id)).sleep === "reclaimed", 30_000);

/** Host memory settled: MemAvailable after the kernel had a moment. */
async function available(): Promise<number> {
  await Bun.sleep(1500);
  return memAvailableMiB();
}

/**
 * What the previews themselves hold, robust to other work on a shared machine (MemAvailable is not): the sum
 * of their cgroups' usage, plus the RAM swap holds for them (zswap's compressed pool, growth since `base`;
 * zram's mem_used_total), in MiB.
 */
const docker = new Docker();
function swapRamMiB(): number {
  const pool = "/sys/kernel/debug/zswap/pool_total_size";
  let bytes = existsSync(pool) ? Number(readFileSync(pool, "utf8")) : 0;
  for (const z of ["zram0", "zram1"]) {
    const f = `/sys/block/${z}/mm_stat`;
    if (existsSync(f)) bytes += Number(readFileSync(f, "utf8").trim().split(/\s+/)[2] ?? 0);
  }
  return bytes / 1048576;
}
async function heldMiB(ids: string[]): Promise<number> {
  let bytes = 0;
  for (const id of ids) {
    const [c] = await docker.listContainers({ all: true, filters: { label: [`previewd.preview=${id}`] } });
    const v1 = c && v1MemoryDir("/sys/fs/cgroup", c.Id);
    const v2 = c && !v1 ? v2Dir("/sys/fs/cgroup", c.Id) : undefined;
    if (v1) bytes += Number(readFileSync(`${v1}/memory.usage_in_bytes`, "utf8"));
    else if (v2) bytes += Number(readFileSync(`${v2}/memory.current`, "utf8"));
  }
  return bytes / 1048576;
}

const results: Record<string, unknown> = {};
async function main() {
  const config = loadConfig({
    ...process.env, PREVIEWD_NODE_ID: nodeId, PREVIEWD_DATA_DIR: dataDir, PREVIEWD_API_PORT: "0", PREVIEWD_PROXY_PORT: "0",
    PREVIEWD_WARM_POOL: "0", PREVIEWD_CAPACITY: "1000", PREVIEWD_API_TOKEN: "bench-token-0123456789",
    PREVIEWD_IDLE_TIMEOUT: "3600", PREVIEWD_RECLAIM_AFTER: "8", // the frozen stage is measured before its reclaim PREVIEWD_STOP_AFTER: "86400",
    // The counter wakes are one identical GET each, a poller's pattern: counted as use here (src/pool/polls.ts).
    PREVIEWD_IDLE_POLLS: "count",
  });
  d = await startDaemon(config, createLogger("info"), { labels: { "previewd.bench": "1" } });
  browser = await launchBrowser();
  const vite = loadApp("vite-react");
  console.log("warm-up: one Vite preview (its lockfile goes into the dependency cache), not counted");
  const warm = await create(vite);
  await loadPage(warm);
  await api(`/v1/previews/${warm}`, { method: "DELETE" });

  const base = await available();
  const swapBase = swapRamMiB();
  const ids: string[] = [];
  const firstLoad: number[] = [];
  for (let i = 0; i < N; i++) {
    ids.push(await create(vite));
    firstLoad.push(await loadPage(ids[i]!));
  }
  const stage = async (name: string) => {
    const avail = await available();
    const resident = (await heldMiB(ids)) / N;
    const swapRam = Math.max(0, swapRamMiB() - swapBase) / N;
    return {
      stage: name, "MemAvailable drop": round((base - avail) / N), "cgroup resident": round(resident), "swap's RAM (zswap pool/zram)": round(swapRam),
      "per 8 GiB (resident + swap RAM)": Math.floor(8192 / Math.max(1, resident + swapRam)),
    };
  };
  const stages = [await stage("running, loaded once in Chromium")];
  for (const id of ids) await suspend(id);
  stages.push(await stage("suspended (frozen)"));
  for (const id of ids) await reclaimed(id);
  stages.push(await stage("deep sleep (reclaimed)"));
  printTable(`MiB per Vite preview (${N} previews)`, stages);
  results.vite = { previews: N, baseMiB: round(base), stages, firstLoadMs: summary(firstLoad) };

  // A whole Vite page after deep sleep (each preview once).
  const viteWake: number[] = [];
  for (const id of ids) viteWake.push(await loadPage(id));

  // Counter app: first byte with its state, running (reference), woken frozen (reference), woken from deep sleep.
  const counters: string[] = [];
  for (let i = 0; i < COUNTERS; i++) counters.push(await create(counterApp, ["node", "server.js"]));
  const counts = new Map<string, number>();
  const hit = async (id: string) => {
    const t0 = performance.now();
    const res = await fetch(`http://127.0.0.1:${d!.proxyPort}/count`, { headers: { host: `${id}.localhost` } });
    const body = await res.text();
    const ms = performance.now() - t0;
    const want = (counts.get(id) ?? 0) + 1;
    if (res.status !== 200 || Number(body) !== want) throw new Error(`${id}: ${res.status} ${body}, expected count ${want} (state lost?)`);
    counts.set(id, want);
    return ms;
  };
  const running: number[] = [];
  const fromFrozen: number[] = [];
  const fromDeep: number[] = [];
  for (const id of counters) await hit(id);
  for (let w = 0; w < WAKES; w++) {
    for (const id of counters) running.push(await hit(id));
    for (const id of counters) {
      await suspend(id);
      fromFrozen.push(await hit(id));
    }
    for (const id of counters) await suspend(id);
    for (const id of counters) await reclaimed(id);
    for (const id of counters) fromDeep.push(await hit(id));
  }
  const rows = [
    { measure: "counter, running (reference)", ...summary(running) },
    { measure: "counter, woken from frozen (reference)", ...summary(fromFrozen) },
    { measure: "counter, woken from deep sleep, state checked", ...summary(fromDeep) },
    { measure: "Vite page in Chromium after deep sleep (#root rendered)", ...summary(viteWake) },
    { measure: "Vite page in Chromium, first load (reference)", ...summary(firstLoad) },
  ];
  printTable("first byte / page (ms)", rows);
  results.wake = rows;
  results.pageLoadsRetried = retried;
  console.log(`page loads done again after net::ERR_NETWORK_CHANGED: ${retried}`);
}

async function cleanup() {
  await browser?.close().catch(() => {});
  await d?.stop().catch(() => {});
  await removeContainersByLabel(`previewd.node=${nodeId}`).catch(() => {});
  // Preview disks are loop-mounted under the data dir: released first, or rm -rf would descend into them.
  for (const root of ["disks", "build-disks", "install-disks"]) await releaseAllDisks(join(dataDir, root), createLogger("error")).catch(() => {});
  rmSync(dataDir, { recursive: true, force: true });
}

await runBench("density", results, main, cleanup);
