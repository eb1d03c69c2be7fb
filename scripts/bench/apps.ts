// Real apps on a real daemon: dependency installs, dev-server starts, HMR,
// disk and memory per preview.
//   node_modules/.bin/bun scripts/bench/apps.ts [runs=10]
// One daemon with its own data dir and a FRESH dependency cache (both under a
// temp dir), a warm pool of 4, containers labelled previewd.bench=1 and removed
// at the end (also on failure or Ctrl-C). Fixture apps: test/fixtures/apps/.
//
// 1. installs    first install in the sandbox vs `npm ci` on the host, same
//                lockfile, both with an empty npm cache. Sandbox: create with a
//                unique package name (a new cache key), time from POST until the
//                status leaves "installing" (GET every 50 ms). Host: `npm ci
//                --no-audit --no-fund --cache <empty dir>` in a temp copy.
//                Three rounds each, alternating, medians; the sandbox time is
//                split with Docker's events of the install container (created,
//                started, exited).
// 2. starts      cached lockfile: POST (no wait) -> GET / through the proxy
//                answers 200 text/html (the proxy holds requests while the app
//                starts; retried on anything else), `runs` times, previews
//                deleted between runs, the pool refilled before each.
//    breakdown   one cached Vite and one Express start traced from outside:
//                POST answered, files extracted (ctime in the container's upper
//                dir), start order at the runner and dependency links done
//                (mtimes of .previewd/start.json, node_modules/.previewd-deps),
//                app process started (/proc starttime), its "listening" log line
//                (docker timestamp; Vite's own "ready in N ms"), status
//                "running" (GET every 10 ms), first HTML; then, for Vite, the
//                first visit in Chromium (goto -> #title rendered).
// 3. disk        the Vite preview's writable layer (docker inspect SizeRw) after
//                its page loaded once in Chromium (Vite wrote its optimized
//                deps), vs the size of the shared cache entry (du).
// 4. hmr         the page open in headless Chromium; `runs` times PATCH
//                src/App.jsx with a new title -> #title shows it; split with
//                the file's ctime in the container and Vite's "hmr update" log
//                line; reference: docker putArchive of one file, direct.
// 5. memory      docker stats one-shot (usage - inactive_file; and its anon
//                rss) of the Vite and an Express preview, idle running and
//                suspended (paused; checked with inspect, retried if refused).
// 6. next        a Next.js App Router app (test/fixtures/apps/next): first
//                install (sandbox and host), cached create -> first HTML
//                (3 runs, and one traced like 2b), memory; what it printed if
//                it failed.
// Tables go to stdout; numbers to bench/results.json ("apps"). Daemon settings
// in the environment pass through (PREVIEWD_BOOST_CPUS=2 ... to compare);
// Next.js runs with NEXT_TELEMETRY_DISABLED=1 (no traffic to Vercel).
// Traffic: the daemon on 127.0.0.1 and the previews through *.localhost
// (the apps themselves reach the npm registry while installing).
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import Docker from "dockerode";
import type { Browser, Page } from "playwright-core";
import { loadConfig } from "../../src/config.ts";
import { startDaemon, type Daemon } from "../../src/daemon.ts";
import { createLogger } from "../../src/log.ts";
import { tarFiles } from "../../src/pool/tar.ts";
import { expressPgDatabase } from "../../test/fixtures/apps/express-pg.db.ts";
import { APPS_DIR, loadApp } from "../../test/fixtures/apps/index.ts";
import { unique } from "../../test/support/apps.ts";
import { launchBrowser } from "../../test/support/browser.ts";
import { ensureBaseImage } from "../../test/support/docker.ts";
import { printTable, round, runBench, summary, watchContainerEvents } from "./lib.ts";

const runs = Number(process.argv[2] ?? 10);
const POOL = 4;
const NEXT_RUNS = 3;
const nodeId = `bench-apps-${Date.now().toString(36)}`;
const tmp = mkdtempSync(join(tmpdir(), "previewd-bench-apps-"));
chmodSync(tmp, 0o711); // the embedded PostgreSQL (user postgres) must pass through to data/postgres
const dataDir = join(tmp, "data");
const depsDir = join(tmp, "deps"); // fresh: every first install is a real one
const docker = new Docker();
const results: Record<string, unknown> = {};

type Files = Record<string, string>;
interface CreateBody {
  files: Files;
  database?: unknown;
  env?: Record<string, string>;
}
interface PreviewJson {
  id: string;
  status: string;
  phase?: string;
  error?: string;
}

// ---- the daemon and small helpers -------------------------------------------

let d: Daemon;

async function boot(): Promise<Daemon> {
  const image = await ensureBaseImage();
  const config = loadConfig({
    ...process.env, PREVIEWD_NODE_ID: nodeId, PREVIEWD_DATA_DIR: dataDir, PREVIEWD_DEPS_DIR: depsDir, PREVIEWD_IMAGE: image,
    PREVIEWD_API_PORT: "0", PREVIEWD_PROXY_PORT: "0", PREVIEWD_WARM_POOL: String(POOL), PREVIEWD_CAPACITY: "1000",
    PREVIEWD_API_TOKEN: "bench-token-0123456789", PREVIEWD_START_TIMEOUT: "180",
  });
  return startDaemon(config, createLogger("warn"), { labels: { "previewd.bench": "1" } });
}

const api = (path: string, init: RequestInit = {}) =>
  fetch(`http://127.0.0.1:${d.apiPort}${path}`, { ...init, headers: { authorization: `Bearer ${d.token}`, "content-type": "application/json" } });
const viaProxy = (id: string, path = "/") =>
  fetch(`http://127.0.0.1:${d.proxyPort}${path}`, { headers: { host: `${id}.localhost` }, signal: AbortSignal.timeout(200_000) });
const pageUrl = (id: string) => `http://${id}.localhost:${d.proxyPort}/`;

async function create(body: CreateBody, wait = false): Promise<PreviewJson> {
  const res = await api(`/v1/previews${wait ? "?wait=1" : ""}`, { method: "POST", body: JSON.stringify(body) });
  const json = (await res.json()) as PreviewJson;
  if (res.status !== 201) throw new Error(`create: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

const getPreview = async (id: string) => (await (await api(`/v1/previews/${id}`)).json()) as PreviewJson;
const remove = (id: string) => api(`/v1/previews/${id}`, { method: "DELETE" }).then((r) => r.body?.cancel());
const logsOf = async (id: string, tail = 100) => (await api(`/v1/previews/${id}/logs?tail=${tail}`)).text();

/** Polls the preview every `everyMs` until `done`; throws on failed (with its logs) or after `timeoutMs`. */
async function waitFor(id: string, done: (p: PreviewJson) => boolean, everyMs = 50, timeoutMs = 300_000): Promise<PreviewJson> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const p = await getPreview(id);
    if (done(p)) return p;
    if (p.status === "failed") throw new Error(`preview ${id} failed: ${p.error}`);
    if (Date.now() > deadline) throw new Error(`preview ${id} still ${p.status} after ${timeoutMs} ms`);
    await Bun.sleep(everyMs);
  }
}

/**
 * GET / through the proxy until it is 200 text/html; returns when that answer
 * came (performance.now()). The proxy holds a request while the app starts;
 * an app that answers only 5xx for 15 s is broken, not starting.
 */
async function firstHtml(id: string, timeoutMs = 200_000): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  let last = "";
  let failingSince: number | undefined;
  while (performance.now() < deadline) {
    try {
      const res = await viaProxy(id);
      const type = res.headers.get("content-type") ?? "";
      const body = await res.text();
      if (res.status === 200 && type.includes("text/html")) return performance.now();
      last = `${res.status} ${type} ${body.slice(0, 200)}`;
      failingSince = res.status >= 500 ? (failingSince ?? performance.now()) : undefined;
      if (failingSince && performance.now() - failingSince > 15_000) break;
    } catch (e) {
      last = (e as Error).message;
    }
    await Bun.sleep(20);
  }
  throw new Error(`preview ${id}: no 200 text/html (last answer: ${last})`);
}

/** Like starts.ts: every create takes a warm container, and the engine is quiet when the clock starts. */
async function waitForPool() {
  while (d.orchestrator.pool.available < POOL) await Bun.sleep(20);
  await Bun.sleep(200);
}

async function metric(name: string): Promise<number> {
  const text = await (await api("/metrics")).text();
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, "m").exec(text);
  return m ? Number(m[1]) : NaN;
}

async function containerOf(id: string): Promise<Docker.Container> {
  const [c] = await docker.listContainers({ all: true, filters: { label: [`previewd.node=${nodeId}`, `previewd.preview=${id}`] } });
  if (!c) throw new Error(`no container for preview ${id}`);
  return docker.getContainer(c.Id);
}

async function execIn(c: Docker.Container, cmd: string[]): Promise<string> {
  const exec = await c.exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({});
  const chunks: Buffer[] = [];
  await new Promise<void>((resolve, reject) => {
    stream.on("data", (b: Buffer) => chunks.push(b));
    stream.on("end", resolve);
    stream.on("error", reject);
  });
  return demux(Buffer.concat(chunks)).join("");
}

/** Docker's multiplexed stream (8-byte frame headers) -> the frames' text. */
function demux(buf: Buffer): string[] {
  const out: string[] = [];
  for (let i = 0; i + 8 <= buf.length; ) {
    const size = buf.readUInt32BE(i + 4);
    out.push(buf.subarray(i + 8, i + 8 + size).toString("utf8"));
    i += 8 + size;
  }
  return out;
}

const ANSI = /\x1b\[[0-9;]*m/g;

/** The container's log lines with Docker's timestamps (epoch ms; same clock as Date.now()). */
async function timedLogs(c: Docker.Container): Promise<Array<{ at: number; line: string }>> {
  const raw = (await c.logs({ stdout: true, stderr: true, timestamps: true, follow: false })) as unknown as Buffer;
  return demux(raw)
    .join("")
    .split("\n")
    .filter(Boolean)
    .map((l) => {
      const sp = l.indexOf(" ");
      return { at: Date.parse(l.slice(0, sp).replace(/(\.\d{3})\d*Z$/, "$1Z")), line: l.slice(sp + 1).replace(ANSI, "") };
    });
}

interface Memory {
  /** What `docker stats` shows: usage minus inactive page cache. */
  stats: number;
  /** Anonymous memory (heap, stacks): what the preview alone costs. */
  rss: number;
}

/** docker stats one-shot (cgroup v1 and v2 field names), MiB. */
async function memoryOf(c: Docker.Container): Promise<Memory> {
  const s = (await c.stats({ stream: false, "one-shot": true } as never)) as unknown as { memory_stats: { usage: number; stats: Record<string, number> } };
  const st = s.memory_stats.stats;
  const inactive = st.inactive_file ?? st.total_inactive_file ?? 0;
  const mib = (b: number) => b / 1024 / 1024;
  // cgroup v1 "rss" already includes transparent huge pages (rss_huge); v2 calls it "anon".
  return { stats: mib(s.memory_stats.usage - inactive), rss: mib(st.rss ?? st.anon ?? 0) };
}

/** Where the container's own files are on the host (overlay2 upper dir). */
async function upperDir(c: Docker.Container): Promise<string> {
  return ((await c.inspect()) as unknown as { GraphDriver: { Data: { UpperDir: string } } }).GraphDriver.Data.UpperDir;
}

/** A file's time in the container's upper dir (epoch ms), or undefined. */
function fileTime(upper: string, path: string, which: "mtimeMs" | "ctimeMs"): number | undefined {
  try {
    return statSync(join(upper, path))[which];
  } catch {
    return undefined;
  }
}

/** Start times (epoch ms, 10 ms ticks) of the container's processes other than the runner. */
async function appProcessStarts(c: Docker.Container): Promise<Array<{ at: number; cmd: string }>> {
  const top = (await c.top()) as unknown as { Titles: string[]; Processes: string[][] };
  const pidCol = top.Titles.indexOf("PID");
  const bootEpoch = Date.now() - Number(readFileSync("/proc/uptime", "utf8").split(" ")[0]) * 1000;
  const out = [];
  for (const row of top.Processes) {
    const pid = row[pidCol]!;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const ticks = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]);
      const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").trim();
      if (!cmd.includes("/opt/previewd/runner.mjs")) out.push({ at: bootEpoch + ticks * 10, cmd });
    } catch {
      // exited meanwhile
    }
  }
  return out.sort((a, b) => a.at - b.at);
}

const du = (path: string) => Number(Bun.spawnSync(["du", "-sk", path]).stdout.toString().split("\t")[0]) / 1024;
const seconds = (ms: number) => round(ms / 1000, 2);
const countPackages = (files: Files) => Object.keys(JSON.parse(files["package-lock.json"]!).packages).filter((k) => k.includes("node_modules/")).length;

// ---- 1. first install: sandbox vs host --------------------------------------

/** `npm ci` of the fixture's lockfile on the host, cold npm cache, in a temp copy. */
async function hostInstall(app: string): Promise<number> {
  const dir = join(tmp, `host-${app.replace(/\W/g, "-")}`);
  cpSync(join(APPS_DIR, app), dir, { recursive: true, filter: (src) => !/\/(node_modules|\.next|dist)$/.test(src) });
  const cache = join(tmp, `npm-cache-${app.replace(/\W/g, "-")}`);
  mkdirSync(cache);
  const t0 = performance.now();
  const p = Bun.spawn(["npm", "ci", "--no-audit", "--no-fund", "--cache", cache], { cwd: dir, stdout: "pipe", stderr: "pipe" });
  const [err, code] = await Promise.all([new Response(p.stderr).text(), p.exited]);
  const ms = performance.now() - t0;
  if (code !== 0) throw new Error(`host npm ci of ${app} failed (${code}): ${err.slice(-2000)}`);
  rmSync(dir, { recursive: true, force: true });
  rmSync(cache, { recursive: true, force: true });
  return ms;
}

/** Install containers' lifecycle from Docker's event stream: container id -> action -> epoch ms. */
let installEvents = new Map<string, Record<string, number>>();
let stopEvents = () => {};

async function watchInstallContainers() {
  const w = watchContainerEvents(docker, [`previewd.node=${nodeId}`, "previewd.role=install"]);
  installEvents = w.events;
  stopEvents = w.stop;
}

interface SandboxInstall {
  /** POST -> the status leaves "installing". */
  ms: number;
  /** POST -> install container started; started -> exited (npm ci itself); exited -> status left installing. */
  toStarted?: number;
  inContainer?: number;
  afterExit?: number;
  toRunningMs: number;
  id: string;
  then: string;
}

/** A create whose lockfile is not cached: POST -> status leaves "installing"; then on to running. */
async function sandboxInstall(body: CreateBody): Promise<SandboxInstall> {
  const t0 = performance.now();
  const e0 = Date.now();
  const p = await create(body);
  if (p.status !== "installing") throw new Error(`expected installing, got ${p.status}`);
  await waitFor(p.id, (x) => x.status !== "installing", 50);
  const ms = performance.now() - t0;
  const e1 = Date.now();
  const end = await waitFor(p.id, (x) => x.status === "running" || x.status === "failed", 50);
  const toRunningMs = performance.now() - t0;
  const job = [...installEvents.values()].find((e) => e.start !== undefined && e.start >= e0 && e.start <= e1);
  return {
    ms, toRunningMs, id: p.id, then: end.status,
    toStarted: job && job.start! - e0, inContainer: job?.die && job.die - job.start!, afterExit: job?.die && e1 - job.die,
  };
}

const BODIES: Record<string, (files: Files) => CreateBody> = {
  "vite-react": (files) => ({ files, tier: "container" }), // the dev server (HMR), not the browser tier
  "express-pg": (files) => ({ files, database: expressPgDatabase }),
  fullstack: (files) => ({ files }),
  next: (files) => ({ files, env: { NEXT_TELEMETRY_DISABLED: "1" } }),
};

const INSTALL_ROUNDS = 3;
const median = (xs: Array<number | undefined>) => {
  const v = xs.filter((x): x is number => x !== undefined).sort((a, b) => a - b);
  return v.length ? v[Math.floor((v.length - 1) / 2)]! : NaN;
};

/**
 * One app both ways, INSTALL_ROUNDS times alternating (medians: this machine
 * is shared, one sample is noise). Returns the last unique files (now cached).
 */
async function installOne(app: string): Promise<{ row: Record<string, string | number>; files: Files; data: object }> {
  let files: Files = {};
  const host: number[] = [];
  const sb: SandboxInstall[] = [];
  for (let round = 0; round < INSTALL_ROUNDS; round++) {
    files = unique(loadApp(app));
    const installsBefore = await metric("previewd_deps_installs_total");
    host.push(await hostInstall(app));
    await waitForPool();
    const r = await sandboxInstall(BODIES[app]!(files));
    sb.push(r);
    await remove(r.id);
    const installs = (await metric("previewd_deps_installs_total")) - installsBefore;
    if (installs !== 1) throw new Error(`${app}: expected one install, the metric says ${installs}`);
  }
  const h = median(host);
  const s = median(sb.map((r) => r.ms));
  const npmCi = median(sb.map((r) => r.inContainer));
  const then = sb.at(-1)!;
  return {
    files,
    row: {
      app, packages: countPackages(files), "host npm ci": seconds(h), sandbox: seconds(s), ratio: `${round(s / h, 2)}x`, target: "<= 1.3x",
      "POST->container started": seconds(median(sb.map((r) => r.toStarted))), "npm ci in container": seconds(npmCi), "vs host": `${round(npmCi / h, 2)}x`,
      "exit->installed": seconds(median(sb.map((r) => r.afterExit))), "then running at": then.then === "running" ? seconds(then.toRunningMs) : `${then.then} at ${seconds(then.toRunningMs)}`,
    },
    data: { rounds: INSTALL_ROUNDS, hostMs: host.map((x) => round(x)), sandbox: sb.map(({ id: _, ...r }) => r), ratio: round(s / h, 2) },
  };
}

async function measureInstalls(): Promise<Record<string, Files>> {
  const rows = [];
  const files: Record<string, Files> = {};
  const data: Record<string, object> = {};
  for (const app of ["vite-react", "express-pg", "fullstack"]) {
    const r = await installOne(app);
    rows.push(r.row);
    files[app] = r.files;
    data[app] = r.data;
  }
  printTable(`1. First install, cold npm cache, seconds (median of ${INSTALL_ROUNDS} rounds): sandbox (POST -> status leaves installing) vs host npm ci; the sandbox split by Docker events`, rows);
  results.installs = data;
  return files;
}

// ---- 2. cached create -> first HTML -------------------------------------------

async function measureStarts(files: Record<string, Files>) {
  const rows = [];
  const data: Record<string, object> = {};
  for (const [app, target] of [["vite-react", "< 2000 ms"], ["express-pg", "< 1000 ms"]] as const) {
    const hitsBefore = await metric("previewd_deps_cache_hits_total");
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
      await waitForPool();
      const t0 = performance.now();
      const p = await create(BODIES[app]!(files[app]!));
      times.push((await firstHtml(p.id)) - t0);
      await remove(p.id);
    }
    const hits = (await metric("previewd_deps_cache_hits_total")) - hitsBefore;
    if (hits !== runs) throw new Error(`${app}: expected ${runs} cache hits, the metric says ${hits}`);
    rows.push({ app, ...summary(times), target_p95: target });
    data[app] = summary(times);
  }
  printTable(`2. Cached lockfile: POST (no wait) -> first 200 text/html through the proxy, ms (${runs} runs each)`, rows);
  results.cachedStarts = data;
}

/**
 * One cached create, traced from outside (see the header); the preview is
 * kept. `listening` finds the app's "I listen" log line.
 */
async function tracedStart(app: string, body: CreateBody, listening: RegExp): Promise<{ id: string; rows: Array<Record<string, string | number>> }> {
  await waitForPool();
  const t0 = Date.now();
  const p = await create(body);
  const posted = Date.now();
  const seen: Record<string, number> = { [p.status]: posted };
  let html = 0;
  const htmlDone = firstHtml(p.id).then(() => (html = Date.now()));
  while (!html) {
    const s = (await getPreview(p.id)).status;
    seen[s] ??= Date.now();
    await Bun.sleep(10);
  }
  await htmlDone;
  const c = await containerOf(p.id);
  const upper = await upperDir(c);
  const logs = await timedLogs(c);
  const ready = logs.find((l) => listening.test(l.line));
  const readyIn = ready ? Number(/ready in (\d+) ?ms/i.exec(ready.line)?.[1] ?? NaN) : NaN;
  const procs = await appProcessStarts(c);
  const steps: Array<[string, number | undefined]> = [
    ["files extracted in the container (ctime of package.json)", fileTime(upper, "app/package.json", "ctimeMs")],
    [`POST answered (claim, database, records, files; status "${p.status}")`, posted],
    ["start order reached the runner (mtime of .previewd/start.json)", fileTime(upper, "app/.previewd/start.json", "mtimeMs")],
    ["node_modules links made (mtime of node_modules/.previewd-deps)", fileTime(upper, "app/node_modules/.previewd-deps", "mtimeMs")],
    [`app process started (/proc, 10 ms ticks: ${procs[0]?.cmd.slice(0, 40) ?? "?"})`, procs[0]?.at],
    ...(Number.isFinite(readyIn) ? [["the dev server's clock starts (its ready line minus its 'ready in')", ready!.at - readyIn] as [string, number]] : []),
    [`app printed "${ready?.line.trim().slice(0, 40) ?? "?"}"`, ready?.at],
    ['status "running" seen (the daemon\'s readiness probe answered)', seen.running],
    ["first 200 text/html through the proxy", html],
  ];
  const rows = steps
    .sort((a, b) => (a[1] ?? Infinity) - (b[1] ?? Infinity))
    .map(([step, at]) => ({ app, step, "at ms": at === undefined ? "?" : Math.round(at - t0) }));
  return { id: p.id, rows };
}

async function measureBreakdowns(files: Record<string, Files>): Promise<string> {
  const vite = await tracedStart("vite-react", BODIES["vite-react"]!(files["vite-react"]!), /ready in \d+ ms/);
  const express = await tracedStart("express-pg", BODIES["express-pg"]!(files["express-pg"]!), /listening on/);
  await remove(express.id);
  printTable("2b. Where one cached start's time goes, ms from POST (file times in the container's upper dir, /proc, docker log timestamps, status polled every 10 ms)", [...vite.rows, ...express.rows]);
  results.breakdown = [...vite.rows, ...express.rows];
  return vite.id;
}

// ---- 3. disk per preview --------------------------------------------------------

async function measureDisk(viteId: string) {
  const c = await containerOf(viteId);
  const info = (await c.inspect({ size: true } as never)) as unknown as { SizeRw: number };
  const key = (await execIn(c, ["cat", "/app/node_modules/.previewd-deps"])).trim();
  const entryMb = du(join(depsDir, "entries", key));
  // -x: the container's own filesystem only (not the dependency cache mounted into it).
  const inside = (await execIn(c, ["du", "-skx", "/app/node_modules/.vite", "/app/node_modules", "/app", "/tmp"])).split("\n").filter((l) => /^\d+\t/.test(l));
  const rwMb = info.SizeRw / 1024 / 1024;
  printTable("3. Disk: the Vite preview's own writable layer after its page loaded once, vs the shared cache entry", [
    { what: "container writable layer (SizeRw)", MB: round(rwMb, 2), target: "<= 5 MB" },
    { what: `shared dependency cache entry (du entries/${key.slice(0, 8)}…)`, MB: round(entryMb, 1), target: "" },
    ...inside.map((l) => ({ what: `  inside: du ${l.split("\t")[1]}`, MB: round(Number(l.split("\t")[0]) / 1024, 2), target: "" })),
  ]);
  results.disk = { sizeRwMB: round(rwMb, 2), cacheEntryMB: round(entryMb, 1), inside };
}

// ---- 4. HMR -------------------------------------------------------------------------

/** First visit in Chromium; waits until Vite's dependency optimisation has settled. Returns the page and goto -> #title ms. */
async function openVitePage(browser: Browser, id: string): Promise<{ page: Page; ms: number }> {
  const page = await browser.newPage();
  const seen: string[] = []; // what went wrong, if it does
  page.on("console", (m) => m.type() === "error" && seen.push(`console: ${m.text().slice(0, 300)}`));
  page.on("response", (r) => r.status() >= 400 && seen.push(`${r.status()} ${r.url()}`));
  page.on("requestfailed", (r) => seen.push(`failed ${r.url()}: ${r.failure()?.errorText}`));
  const t0 = performance.now();
  try {
    await page.goto(pageUrl(id), { timeout: 60_000 });
    await page.waitForSelector("#title", { timeout: 60_000 });
  } catch (e) {
    const logs = (await containerOf(id).then(timedLogs)).map((l) => l.line);
    throw new Error(`${(e as Error).message.split("\n")[0]}\nthe page saw:\n${seen.join("\n")}\nthe preview printed:\n${logs.slice(-40).join("\n")}`);
  }
  const ms = performance.now() - t0;
  await page.waitForLoadState("networkidle");
  await Bun.sleep(2000); // a first visit may make Vite optimise deps and reload once
  await page.waitForSelector("#title", { timeout: 60_000 });
  return { page, ms };
}

async function measureHmr(page: Page, id: string, files: Files) {
  const c = await containerOf(id);
  const upper = await upperDir(c);
  // Functions given to page.evaluate run in the page (this file is type-checked without the DOM lib).
  type PageGlobals = { marker?: number; document: { querySelector(s: string): { textContent: string | null } | null } };
  await page.evaluate(() => ((globalThis as unknown as PageGlobals).marker = 1)); // a full reload would wipe it
  const original = files["src/App.jsx"]!;
  const base = /<h1 id="title">([^<]*)<\/h1>/.exec(original)![1]!;
  const trace: Array<{ t0: number; patched: number; written?: number; shown: number }> = [];
  for (let i = 0; i < runs; i++) {
    const title = `${base} (edit ${i + 1})`;
    const t0 = Date.now();
    const res = await api(`/v1/previews/${id}/files`, { method: "PATCH", body: JSON.stringify({ files: { "src/App.jsx": original.replace(base, title) } }) });
    await res.body?.cancel();
    if (res.status !== 200) throw new Error(`PATCH: ${res.status}`);
    const patched = Date.now();
    await page.waitForFunction((t) => (globalThis as unknown as PageGlobals).document.querySelector("#title")?.textContent === t, title, { timeout: 15_000, polling: "raf" });
    trace.push({ t0, patched, shown: Date.now(), written: fileTime(upper, "app/src/App.jsx", "ctimeMs") });
    await Bun.sleep(300);
  }
  const reloaded = (await page.evaluate(() => (globalThis as unknown as PageGlobals).marker)) !== 1;
  // Vite logs "hmr update /src/App.jsx" when it sends the update: split each edit there.
  const updates = (await timedLogs(c)).filter((l) => /hmr update/.test(l.line)).map((l) => l.at);
  const vite = trace.map((r) => updates.find((u) => u >= r.t0 - 5));
  // The floor of any PATCH: Docker's putArchive of one small file, straight to the engine.
  const direct: number[] = [];
  const tar = await tarFiles({ "bench-probe.txt": "x" });
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    await c.putArchive(tar, { path: "/tmp" });
    direct.push(performance.now() - t);
  }
  const seg = (f: (r: (typeof trace)[number], i: number) => number | undefined) => {
    const xs = trace.map(f).filter((x): x is number => x !== undefined);
    return xs.length ? summary(xs) : { n: 0, p50: "?", p95: "?", max: "?" };
  };
  const rows = [
    { measure: "PATCH -> the page shows the new title", ...seg((r) => r.shown - r.t0), target_p95: "< 300 ms" },
    { measure: "  PATCH sent -> file written in the container (its ctime)", ...seg((r) => r.written && r.written - r.t0), target_p95: "" },
    { measure: "  PATCH sent -> PATCH answered", ...seg((r) => r.patched - r.t0), target_p95: "" },
    { measure: "  file written -> Vite logs 'hmr update' (ms-resolution log time)", ...seg((r, i) => r.written && vite[i] && vite[i]! - r.written), target_p95: "" },
    { measure: "  Vite's update -> the page shows it", ...seg((r, i) => vite[i] && r.shown - vite[i]!), target_p95: "" },
    { measure: "reference: docker putArchive of one file, direct (5x)", ...summary(direct), target_p95: "" },
  ];
  printTable(`4. HMR in Chromium: PATCH src/App.jsx with a new title, ms (${runs} edits; a full reload happened: ${reloaded ? "yes" : "no"})`, rows);
  results.hmr = { rows, reloaded };
}

// ---- 5. memory ---------------------------------------------------------------------------

/** Pauses through the API, checking that the container really is paused (retried: the engine can refuse to freeze). */
async function suspend(id: string, c: Docker.Container): Promise<{ paused: boolean; refusals: string[] }> {
  const refusals: string[] = [];
  for (let attempt = 0; attempt < 3; attempt++) {
    const res = await api(`/v1/previews/${id}/suspend`, { method: "POST" });
    const body = await res.text();
    if (res.status !== 200) refusals.push(`${res.status} ${body.slice(0, 300)}`);
    const state = ((await c.inspect()) as unknown as { State: { Paused: boolean } }).State;
    if (state.Paused) return { paused: true, refusals };
    await Bun.sleep(1000);
  }
  return { paused: false, refusals };
}

/** Idle running (after `idleMs`), then suspended (paused: the memory stays). */
async function runningAndSuspended(id: string, idleMs = 5000) {
  const c = await containerOf(id);
  await Bun.sleep(idleMs);
  const running = await memoryOf(c);
  const s = await suspend(id, c);
  await Bun.sleep(1000);
  const suspended = await memoryOf(c);
  return { running, suspended, ...s };
}

async function measureMemory(viteId: string, files: Record<string, Files>) {
  const vite = await runningAndSuspended(viteId);
  await waitForPool();
  const express = await create(BODIES["express-pg"]!(files["express-pg"]!), true);
  await (await viaProxy(express.id)).text();
  await (await viaProxy(express.id, "/api/items")).text();
  const ex = await runningAndSuspended(express.id);
  await remove(express.id);
  const fit = (mib: number) => Math.floor(8192 / mib);
  const row = (preview: string, m: typeof vite) => ({
    preview, "running (stats)": round(m.running.stats), "running (anon rss)": round(m.running.rss),
    suspended: m.paused ? round(m.suspended.stats) : "not paused", "suspend refused": m.refusals.length,
    "fit in 8 GiB (stats)": fit(m.running.stats), "fit (anon rss)": fit(m.running.rss),
  });
  printTable("5. Container memory, MiB: docker stats (usage - inactive_file) and anon rss; previews per 8 GiB node (the plan assumed 80 MiB: 102)", [
    row("Vite + React, page loaded, idle", vite),
    row("Express + pg, served / and /api/items, idle", ex),
  ]);
  for (const r of [...vite.refusals, ...ex.refusals]) console.log(`  suspend refused: ${r}`);
  results.memoryMiB = { vite, express: ex, viteFitIn8GiB: fit(vite.running.stats) };
}

// ---- 6. Next.js dev ------------------------------------------------------------------------

async function measureNext() {
  const out: Record<string, unknown> = {};
  results.next = out;
  let id: string | undefined;
  try {
    const r = await installOne("next");
    out.install = r.data;
    printTable(`6a. Next.js: first install, cold npm cache, seconds (median of ${INSTALL_ROUNDS})`, [r.row]);
    const times: number[] = [];
    for (let i = 0; i < NEXT_RUNS; i++) {
      await waitForPool();
      const t0 = performance.now();
      id = (await create(BODIES.next!(r.files))).id;
      times.push((await firstHtml(id)) - t0);
      await remove(id);
      id = undefined;
    }
    // One more, traced like 2b, and kept for its memory.
    const traced = await tracedStart("next", BODIES.next!(r.files), /ready in/i);
    id = traced.id;
    printTable("6b. Where one cached Next.js start's time goes, ms from POST (as in 2b)", traced.rows);
    out.breakdown = traced.rows;
    const logs = (await timedLogs(await containerOf(id!))).map((l) => l.line);
    const html = await (await viaProxy(id!)).text();
    const mem = await runningAndSuspended(id!);
    out.cachedStart = summary(times);
    out.memory = mem;
    out.log = logs.slice(0, 20);
    printTable(`6c. Next.js: cached lockfile, POST -> first 200 text/html through the proxy, ms (${NEXT_RUNS} runs; the page compiles on the first request), and its memory`, [
      { app: "next dev", ...summary(times), "running MiB (stats)": round(mem.running.stats), "anon rss": round(mem.running.rss), "title served": /Hello from Next\.js/.test(html) ? "yes" : "no" },
    ]);
    console.log("  its log (last run):\n" + logs.slice(0, 20).map((l) => `    ${l}`).join("\n"));
  } catch (e) {
    out.error = (e as Error).message;
    console.log(`\n6. Next.js FAILED: ${(e as Error).message}`);
    if (id) {
      const lines = await containerOf(id).then(timedLogs).then((ls) => ls.map((l) => l.line)).catch(() => [] as string[]);
      out.log = lines.slice(0, 40);
      console.log(`  what it printed (first 40 of ${lines.length} lines):\n${lines.slice(0, 40).map((l) => `    ${l}`).join("\n")}`);
    }
  } finally {
    if (id) await remove(id);
  }
}

// ---- main --------------------------------------------------------------------------------

async function main() {
  d = await boot();
  await watchInstallContainers();
  console.log(`previewd bench apps: ${runs} runs, ${cpus().length} cores, load ${loadavg().map((x) => round(x, 2)).join(" ")}, deps cache ${depsDir}`);
  results.loadBefore = loadavg().map((x) => round(x, 2));
  await waitForPool();
  const files = await measureInstalls();
  await measureStarts(files);
  const viteId = await measureBreakdowns(files);
  let browser: Browser | undefined;
  try {
    browser = await launchBrowser();
    const { page, ms } = await openVitePage(browser, viteId);
    printTable("2c. First visit in Chromium of that Vite preview (goto -> #title rendered; modules and optimised deps served at the running CPU limit)", [{ measure: "first page load", ms: Math.round(ms) }]);
    results.viteFirstVisitMs = Math.round(ms);
    await measureDisk(viteId);
    await measureHmr(page, viteId, files["vite-react"]!);
    await page.close();
  } finally {
    await browser?.close();
  }
  await measureMemory(viteId, files);
  await remove(viteId);
  await measureNext();
  results.loadAfter = loadavg().map((x) => round(x, 2));
}

async function cleanup() {
  stopEvents();
  await d?.stop().catch(() => {});
  const left = await docker.listContainers({ all: true, filters: { label: [`previewd.node=${nodeId}`] } });
  await Promise.all(left.map((c) => docker.getContainer(c.Id).remove({ force: true, v: true }).catch(() => {})));
  rmSync(tmp, { recursive: true, force: true });
}

await runBench("apps", results, main, cleanup, () => ({ runs }));
