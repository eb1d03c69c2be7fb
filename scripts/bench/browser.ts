// The browser tier (static runtime) on a real daemon: how fast a frontend-only
// app is on screen, and what a browser preview costs the node.
//   node_modules/.bin/bun scripts/bench/browser.ts [runs=10] [previews=1000]
// One daemon in this process (like test/support/daemon.ts: the test suite's
// embedded PostgreSQL, its own node id and data dir, warm pool 2) sharing the
// test suite's dependency cache (PREVIEWD_DEPS_DIR=/tmp/previewd-test-deps);
// its containers carry previewd.bench=1 (not previewd.test=1: scripts/test
// removes those when it starts) and its node id, and are removed at the end
// (also on failure or Ctrl-C). A render run that fails is reported and not
// counted.
//
// 1. render    Vite + React (test/fixtures/apps/vite-react) as a browser-tier
//              preview (tier auto: `vite build` in a sandbox job, the output
//              served from the store) vs the same files as a container preview
//              (tier container: its Vite dev server), `runs` times each,
//              alternating, in one run of this script. Clock: POST sent ->
//              #title visible in headless Chromium at http://{id}.localhost:{proxy}/
//              (a fresh browser context per visit). The tab is opened as soon as
//              the POST is answered, as a user's would be: the container
//              tier's proxy holds the request until the dev server answers; the
//              browser tier answers 503 "being built" with a 2 s meta refresh,
//              so for it a second tab is timed too, opened when GET / through
//              the proxy first answers 200 (polled every 50 ms). Also: the
//              preview polled every 50 ms (status and phase changes), the
//              build job's container from Docker's events (created, started,
//              died: `npm run build` itself), and a second visit in a new
//              context once it is up. Warm dependency cache for both: one
//              preview of each tier is made first and not counted (its lockfile
//              is then in the cache; the build output is never cached, every
//              create builds). Containers are waited for (pool full) before
//              each container run. Checked: no container carries a browser
//              preview's label after it rendered, no build container is left.
// 2. memory    daemon (this process) RSS, process.memoryUsage().rss and
//              /proc/self/status VmRSS, after Bun.gc(true) twice: before and
//              after creating `previews` browser previews of a small plain site
//              (index.html, app.js, style.css; no package.json so no build and
//              no container; each site's text differs), then after one GET /
//              through the proxy of each (which loads the site from the store
//              into this node's memory). 20 such sites are created, served and
//              deleted before the baseline (JIT, connection pools). KiB per
//              preview: (a) created, (b) served once. Target: no container and
//              < 1 MB of daemon memory each. Docker is asked for containers with
//              a previewd.preview label (all of them, and by label for 100).
// 3. serving   with all `previews` alive: 100 random ones GET / and /app.js
//              through the proxy (200 and the exact bytes); latency of GET /
//              through the proxy to a served (cached) site, 1000 requests to
//              random ones, and of the first request of each (site loaded from
//              the store); reference: a Bun.serve in this process answering the
//              same index.html from a constant (no lookup), same client.
// Tables go to stdout; numbers to bench/results.json ("browser").
// Traffic: the daemon on 127.0.0.1, previews through *.localhost; the build
// job reaches nothing (dependencies come from the cache).
import { mkdtempSync, readFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import Docker from "dockerode";
import type { Browser, BrowserContext } from "playwright-core";
import { loadApp } from "../../test/fixtures/apps/index.ts";
import { launchBrowser } from "../../test/support/browser.ts";
import { testConfig } from "../../src/config.ts";
import { startDaemon } from "../../src/daemon.ts";
import { createLogger } from "../../src/log.ts";
import { wrap, type TestDaemon } from "../../test/support/daemon.ts";
import { ensureBaseImage } from "../../test/support/docker.ts";
import { testDatabaseUrl } from "../../test/support/postgres.ts";
import { printTable, round, runBench, summary, watchContainerEvents } from "./lib.ts";

const runs = Number(process.argv[2] ?? 10);
const previews = Number(process.argv[3] ?? 1000);
const POOL = 2;
const WARMUP_SITES = 20;
const SAMPLE = 100;
const CACHED_GETS = 1000;
const PARALLEL = 8; // concurrent creates/deletes in phase 2
const docker = new Docker();
const results: Record<string, unknown> = {};

type Files = Record<string, string>;
interface PreviewJson {
  id: string;
  status: string;
  tier?: string;
  node?: string;
  phase?: string;
  error?: string;
}

let d: TestDaemon;

const create = async (body: object, wait = false): Promise<PreviewJson> => {
  const res = await d.api(`/v1/previews${wait ? "?wait=1" : ""}`, { method: "POST", body: JSON.stringify(body) });
  const json = (await res.json()) as PreviewJson;
  if (res.status !== 201) throw new Error(`create: ${res.status} ${JSON.stringify(json)}`);
  return json;
};
const getPreview = async (id: string) => (await (await d.api(`/v1/previews/${id}`)).json()) as PreviewJson;
const remove = async (id: string) => {
  const r = await d.api(`/v1/previews/${id}`, { method: "DELETE" });
  await r.body?.cancel();
  if (r.status >= 300 && r.status !== 404) throw new Error(`delete ${id}: ${r.status}`);
};
const pageUrl = (id: string) => `http://${id}.localhost:${d.proxyPort}/`;

async function waitForPool() {
  while (d.orchestrator.pool.available < POOL) await Bun.sleep(20);
  await Bun.sleep(200);
}

/** Runs `fn` over `items`, `n` at a time, keeping order. */
async function pmap<T, R>(items: T[], n: number, fn: (x: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: n }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  }));
  return out;
}

const randomPick = <T>(xs: T[], k: number): T[] => {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a.slice(0, k);
};

/** Containers (any state) carrying a previewd.preview label, by that label's value. */
async function previewContainers(): Promise<Map<string, string>> {
  const all = await docker.listContainers({ all: true, filters: { label: ["previewd.preview"] } });
  return new Map(all.map((c) => [c.Labels["previewd.preview"]!, c.Id]));
}
const containersOf = async (id: string) => (await docker.listContainers({ all: true, filters: { label: [`previewd.preview=${id}`] } })).length;

// ---- Docker events of build jobs ----------------------------------------------------

/** Build containers' lifecycle: container id -> action -> epoch ms. */
let buildEvents = new Map<string, Record<string, number>>();
let stopEvents = () => {};

async function watchBuildContainers() {
  const w = watchContainerEvents(docker, [`previewd.node=${d.nodeId}`, "previewd.role=build"]);
  buildEvents = w.events;
  stopEvents = w.stop;
}

// ---- 1. create -> first render ------------------------------------------------------

interface RenderRun {
  tier: "browser" | "container";
  id: string;
  /** ms from POST sent (performance clock, converted from epoch where needed). */
  posted: number;
  running?: number;
  title: number;
  /** Browser tier: tab opened when GET / first answered 200. */
  titleTight?: number;
  firstOk?: number;
  secondVisit: number;
  phases: Record<string, number>;
  build?: { created?: number; started?: number; died?: number; destroyed?: number };
  containersAfter?: number;
  gotTier?: string;
}

async function visit(browser: Browser, id: string, open: Set<BrowserContext> = new Set()): Promise<void> {
  const ctx = await browser.newContext();
  open.add(ctx);
  try {
    const page = await ctx.newPage();
    const seen: string[] = []; // what went wrong, if it does
    page.on("console", (m) => m.type() === "error" && seen.push(`console: ${m.text().slice(0, 200)}`));
    page.on("response", (r) => r.status() >= 400 && seen.push(`${r.status()} ${r.url()}`));
    page.on("requestfailed", (r) => seen.push(`failed ${r.url()}: ${r.failure()?.errorText}`));
    try {
      await page.goto(pageUrl(id), { waitUntil: "commit", timeout: 180_000 });
      await page.waitForSelector("#title", { state: "visible", timeout: 120_000 });
    } catch (e) {
      const body = await page.evaluate(() => (globalThis as unknown as { document: { documentElement: { outerHTML: string } } }).document.documentElement.outerHTML).catch(() => "?");
      const state = await getPreview(id).catch(() => undefined);
      throw new Error(`${(e as Error).message.split("\n")[0]} | preview: ${state?.status} ${state?.error ?? ""} | page saw: ${seen.slice(-8).join("; ")} | page: ${body.replace(/\s+/g, " ").slice(0, 400)}`);
    }
    const text = await page.locator("#title").innerText();
    if (text !== "Hello from Vite + React") throw new Error(`preview ${id}: #title says ${JSON.stringify(text)}`);
  } finally {
    open.delete(ctx);
    await ctx.close().catch(() => {});
  }
}

async function renderOnce(browser: Browser, tier: "browser" | "container", files: Files): Promise<RenderRun> {
  if (tier === "container") await waitForPool();
  const epoch0 = Date.now();
  const t0 = performance.now();
  const p = await create(tier === "container" ? { files, tier: "container" } : { files });
  const posted = performance.now() - t0;
  const gotTier = p.tier;
  const open = new Set<BrowserContext>();
  let done = false;
  try {
    if (tier === "browser" && p.tier !== "browser") throw new Error(`tier auto gave ${p.tier} (${JSON.stringify(p)})`);
    if (tier === "container" && p.tier === "browser") throw new Error(`tier container gave ${p.tier}`);
    const phases: Record<string, number> = {};
    let running: number | undefined;
    // Rejects when the preview fails (ending the run at once); else runs until `done`.
    const poller = (async () => {
      while (!done) {
        const x = await getPreview(p.id);
        const at = performance.now() - t0;
        phases[`${x.status}${x.phase ? `: ${x.phase}` : ""}`] ??= at;
        if (x.status === "running") running ??= at;
        if (x.status === "failed") throw new Error(`preview ${p.id} failed: ${x.error}`);
        await Bun.sleep(50);
      }
    })();
    let firstOk: number | undefined;
    const tight = tier === "browser"
      ? (async () => {
          while (!done) {
            const r = await d.preview(p.id, "/");
            await r.arrayBuffer();
            if (r.status === 200) break;
            await Bun.sleep(50);
          }
          firstOk = performance.now() - t0;
          await visit(browser, p.id, open);
          return performance.now() - t0;
        })()
      : Promise.resolve(undefined);
    const user = visit(browser, p.id, open).then(() => performance.now() - t0);
    const both = Promise.all([user, tight]);
    both.catch(() => {}); // when the poller wins the race, these end as their contexts close
    const [title, titleTight] = (await Promise.race([both, poller.then(() => never)])) as [number, number | undefined];
    done = true;
    await poller;
    const containersAfter = tier === "browser" ? await containersOf(p.id) : undefined;
    const s = performance.now();
    await visit(browser, p.id);
    const secondVisit = performance.now() - s;
    let build: RenderRun["build"];
    if (tier === "browser") {
      await Bun.sleep(300); // the die/destroy events
      const ev = [...buildEvents.values()].find((e) => e.create !== undefined && e.create >= epoch0 && e.create <= epoch0 + title);
      const rel = (x?: number) => (x === undefined ? undefined : x - epoch0);
      if (ev) build = { created: rel(ev.create), started: rel(ev.start), died: rel(ev.die), destroyed: rel(ev.destroy) };
    }
    return { tier, id: p.id, posted, running, title, titleTight, firstOk, secondVisit, phases, build, containersAfter, gotTier };
  } finally {
    done = true;
    for (const ctx of open) await ctx.close().catch(() => {});
    await remove(p.id).catch((e) => console.log(`  ${(e as Error).message}`));
  }
}

/** A promise that never settles (the poller only ends a race by failing). */
const never = new Promise<never>(() => {});

async function measureRender(browser: Browser) {
  const files = loadApp("vite-react");
  console.log("1. warm-up: one browser-tier and one container preview of vite-react (not counted; their lockfile is now in the dependency cache)");
  const w1 = await renderOnce(browser, "browser", files);
  const w2 = await renderOnce(browser, "container", files);
  console.log(`   warm-up: browser ${Math.round(w1.title)} ms, container ${Math.round(w2.title)} ms`);
  const b: RenderRun[] = [];
  const c: RenderRun[] = [];
  const failures: string[] = [];
  const attempt = async (tier: "browser" | "container", into: RenderRun[]) => {
    try {
      const r = await renderOnce(browser, tier, files);
      into.push(r);
      return `${Math.round(r.title)} ms${r.titleTight !== undefined ? ` (tight ${Math.round(r.titleTight)})` : ""}`;
    } catch (e) {
      failures.push(`${tier}: ${(e as Error).message.slice(0, 1500)}`);
      return `FAILED (${(e as Error).message.split("\n")[0]})`;
    }
  };
  for (let i = 0; i < runs; i++) {
    const bt = await attempt("browser", b);
    const ct = await attempt("container", c);
    console.log(`   run ${i + 1}/${runs}: browser ${bt}, container ${ct}`);
  }
  const s = (xs: Array<number | undefined>) => {
    const v = xs.filter((x): x is number => x !== undefined && Number.isFinite(x));
    return v.length ? summary(v) : { n: 0, p50: "?", p95: "?", max: "?" };
  };
  const phase = (r: RenderRun, re: RegExp) => Object.entries(r.phases).find(([k]) => re.test(k))?.[1];
  const rows = [
    { tier: "browser (tier auto)", measure: "POST -> #title visible, tab opened at POST (building page reloads every 2 s)", ...s(b.map((r) => r.title)) },
    { tier: "browser (tier auto)", measure: "POST -> #title visible, tab opened at first 200 of GET / (polled 50 ms)", ...s(b.map((r) => r.titleTight)) },
    { tier: "container (dev server)", measure: "POST -> #title visible, tab opened at POST (the proxy holds it)", ...s(c.map((r) => r.title)) },
    { tier: "browser", measure: "  POST answered", ...s(b.map((r) => r.posted)) },
    { tier: "browser", measure: "  POST -> build container created (docker event)", ...s(b.map((r) => r.build?.created)) },
    { tier: "browser", measure: "  build: container created -> started (attach, start)", ...s(b.map((r) => r.build && r.build.started! - r.build.created!)) },
    { tier: "browser", measure: "  build: container started -> died (`vite build` + linking deps)", ...s(b.map((r) => r.build && r.build.died! - r.build.started!)) },
    { tier: "browser", measure: "  build: container created -> destroyed", ...s(b.map((r) => r.build && r.build.destroyed! - r.build.created!)) },
    { tier: "browser", measure: "  build phase seen: 'npm run build' -> status running (poll 50 ms)", ...s(b.map((r) => { const a = phase(r, /npm run build/); return a !== undefined && r.running !== undefined ? r.running - a : undefined; })) },
    { tier: "browser", measure: "  build container died -> status running (read dist/, save to store)", ...s(b.map((r) => r.build?.died !== undefined && r.running !== undefined ? r.running - r.build.died : undefined)) },
    { tier: "browser", measure: "  POST -> status running seen", ...s(b.map((r) => r.running)) },
    { tier: "browser", measure: "  POST -> GET / first 200 through the proxy", ...s(b.map((r) => r.firstOk)) },
    { tier: "browser", measure: "  second visit, new context: goto -> #title", ...s(b.map((r) => r.secondVisit)) },
    { tier: "container", measure: "  POST answered", ...s(c.map((r) => r.posted)) },
    { tier: "container", measure: "  POST -> status running seen", ...s(c.map((r) => r.running)) },
    { tier: "container", measure: "  status running -> #title visible (Vite serves and transforms the modules)", ...s(c.map((r) => r.running !== undefined ? r.title - r.running : undefined)) },
    { tier: "container", measure: "  second visit, new context: goto -> #title", ...s(c.map((r) => r.secondVisit)) },
  ];
  printTable(`1. Vite + React: create -> first render in headless Chromium, ms (${runs} runs each, alternating; warm dependency cache: one of each made first, not counted)`, rows);
  const leftOnBrowser = b.map((r) => r.containersAfter ?? 0).reduce((a, x) => a + x, 0);
  const buildLeft = (await docker.listContainers({ all: true, filters: { label: [`previewd.node=${d.nodeId}`, "previewd.role=build"] } })).length;
  console.log(`  containers labelled with a browser preview's id once it rendered: ${leftOnBrowser} (of ${runs}); build containers left: ${buildLeft}; build containers seen in events: ${buildEvents.size}`);
  for (const f of failures) console.log(`  failed run (not counted): ${f}`);
  console.log(`  phases seen (one browser run): ${JSON.stringify(Object.fromEntries(Object.entries(b[0]?.phases ?? {}).map(([k, v]) => [k, Math.round(v)])))}`);
  results.render = { rows, containersOnBrowserPreviews: leftOnBrowser, buildContainersLeft: buildLeft, warmup: { browserMs: Math.round(w1.title), containerMs: Math.round(w2.title) }, failures, runs: { browser: b, container: c } };
}

// ---- 2. memory per browser preview, 3. serving ---------------------------------------

interface Mem {
  rssKiB: number;
  vmRssKiB: number;
  heapUsedKiB: number;
}

async function memNow(): Promise<Mem> {
  Bun.gc(true);
  await Bun.sleep(300);
  Bun.gc(true);
  const m = process.memoryUsage();
  const vm = /VmRSS:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"));
  return { rssKiB: Math.round(m.rss / 1024), vmRssKiB: Number(vm?.[1] ?? NaN), heapUsedKiB: Math.round(m.heapUsed / 1024) };
}

function site(i: number): Files {
  const tag = `${i}-${Math.random().toString(36).slice(2, 10)}`;
  return {
    "index.html": `<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>Site ${tag}</title>\n<link rel="stylesheet" href="/style.css">\n</head>\n<body>\n<h1 id="title">Plain site ${tag}</h1>\n<p id="out"></p>\n<script src="/app.js"></script>\n</body>\n</html>\n`,
    "app.js": `// site ${tag}\ndocument.getElementById("out").textContent = "app.js of ${tag} ran at " + new Date().toISOString();\n`,
    "style.css": `/* site ${tag} */\nbody { font-family: system-ui, sans-serif; margin: 2rem; color: #222; }\nh1 { color: #0a7; }\n`,
  };
}

async function getTimed(id: string, path = "/"): Promise<{ ms: number; status: number; body: string }> {
  const t = performance.now();
  const r = await d.preview(id, path);
  const body = await r.text();
  return { ms: performance.now() - t, status: r.status, body };
}

async function measureMemoryAndServing() {
  // Warm-up: the code paths, JIT and connection pools, not charged to the previews measured.
  const warm = await pmap(Array.from({ length: WARMUP_SITES }, (_, i) => site(-1 - i)), PARALLEL, (files) => create({ files }, true));
  for (const p of warm) await getTimed(p.id);
  await pmap(warm, PARALLEL, (p) => remove(p.id));

  const before = await memNow();
  const sites = Array.from({ length: previews }, (_, i) => site(i));
  const siteBytes = Buffer.byteLength(Object.values(sites[0]!).join(""));
  const createMs: number[] = [];
  const tc = performance.now();
  const made = await pmap(sites, PARALLEL, async (files) => {
    const t = performance.now();
    const p = await create({ files }, true);
    createMs.push(performance.now() - t);
    if (p.tier !== "browser" || p.status !== "running") throw new Error(`plain site: tier ${p.tier}, status ${p.status} ${p.error ?? ""}`);
    return p.id;
  });
  const createWall = performance.now() - tc;
  const created = await memNow();

  const firstMs: number[] = [];
  for (let i = 0; i < made.length; i++) {
    const r = await getTimed(made[i]!);
    if (r.status !== 200 || r.body !== sites[i]!["index.html"]) throw new Error(`first GET of ${made[i]}: ${r.status} ${r.body.slice(0, 100)}`);
    firstMs.push(r.ms);
  }
  const served = await memNow();

  // Containers: none for any of them (one listing of every preview container on this host, and 100 asked by label).
  const withContainer = await previewContainers();
  const anyContainer = made.filter((id) => withContainer.has(id)).length;
  let byLabel = 0;
  for (const id of randomPick(made, SAMPLE)) byLabel += await containersOf(id);

  const per = (a: Mem, b: Mem, k: keyof Mem) => round((b[k] - a[k]) / previews, 2);
  const memRows = [
    { state: "baseline (after 20 sites made, served, deleted)", "rss MiB": round(before.rssKiB / 1024), "VmRSS MiB": round(before.vmRssKiB / 1024), "JS heap MiB": round(before.heapUsedKiB / 1024), "KiB/preview (rss)": "", "KiB/preview (VmRSS)": "", "KiB/preview (heap)": "", target: "" },
    { state: `(a) ${previews} created`, "rss MiB": round(created.rssKiB / 1024), "VmRSS MiB": round(created.vmRssKiB / 1024), "JS heap MiB": round(created.heapUsedKiB / 1024), "KiB/preview (rss)": per(before, created, "rssKiB"), "KiB/preview (VmRSS)": per(before, created, "vmRssKiB"), "KiB/preview (heap)": per(before, created, "heapUsedKiB"), target: "< 1024" },
    { state: `(b) ${previews} served once (sites in memory)`, "rss MiB": round(served.rssKiB / 1024), "VmRSS MiB": round(served.vmRssKiB / 1024), "JS heap MiB": round(served.heapUsedKiB / 1024), "KiB/preview (rss)": per(before, served, "rssKiB"), "KiB/preview (VmRSS)": per(before, served, "vmRssKiB"), "KiB/preview (heap)": per(before, served, "heapUsedKiB"), target: "< 1024" },
  ];
  printTable(`2. Daemon memory per browser preview (this process; Bun.gc(true) before each reading; each site ${siteBytes} bytes in 3 files; created ${PARALLEL} at a time with ?wait=1)`, memRows);
  console.log(`  containers for these ${previews} previews: ${anyContainer} (listing of all previewd.preview containers), ${byLabel} (${SAMPLE} asked by label previewd.preview=<id>)`);
  console.log(`  creates: ${previews} in ${round(createWall / 1000, 1)} s wall; one create (?wait=1) p50 ${summary(createMs).p50} ms, p95 ${summary(createMs).p95} ms`);

  // 3. All of them answer; latency through the proxy.
  const sample = randomPick(made.map((id, i) => ({ id, i })), Math.min(SAMPLE, previews));
  let ok = 0;
  const bad: string[] = [];
  for (const { id, i } of sample) {
    const [html, js] = [await getTimed(id), await getTimed(id, "/app.js")];
    if (html.status === 200 && html.body === sites[i]!["index.html"] && js.status === 200 && js.body === sites[i]!["app.js"]) ok++;
    else bad.push(`${id}: ${html.status}/${js.status}`);
  }
  const cachedMs: number[] = [];
  for (let k = 0; k < CACHED_GETS; k++) {
    const i = Math.floor(Math.random() * made.length);
    const r = await getTimed(made[i]!);
    if (r.status !== 200) throw new Error(`GET ${made[i]}: ${r.status}`);
    cachedMs.push(r.ms);
  }
  // Reference: the same bytes from a Bun.serve in this process, no lookup.
  const html = sites[0]!["index.html"];
  const ref = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response(html, { headers: { "content-type": "text/html; charset=utf-8" } }) });
  const refMs: number[] = [];
  try {
    for (let k = 0; k < CACHED_GETS; k++) {
      const t = performance.now();
      await (await fetch(`http://127.0.0.1:${ref.port}/`, { headers: { host: `x${k}.localhost` } })).text();
      refMs.push(performance.now() - t);
    }
  } finally {
    ref.stop(true);
  }
  const latRows = [
    { request: `GET / of a served site through the proxy (${CACHED_GETS}, random of ${previews})`, ...summary(cachedMs) },
    { request: `first GET / of each (site loaded from the store; ${previews})`, ...summary(firstMs) },
    { request: `reference: Bun.serve in this process, constant Response (${CACHED_GETS})`, ...summary(refMs) },
  ];
  printTable(`3. ${previews} browser previews on one node: ${ok}/${sample.length} random ones answered GET / and /app.js with 200 and their own bytes; latency, ms (sequential, one client in this process)`, latRows);
  for (const b of bad.slice(0, 10)) console.log(`  wrong answer: ${b}`);

  results.memory = {
    previews, siteBytes, before, created, served,
    perPreviewKiB: { created: { rss: per(before, created, "rssKiB"), vmRss: per(before, created, "vmRssKiB"), heap: per(before, created, "heapUsedKiB") }, served: { rss: per(before, served, "rssKiB"), vmRss: per(before, served, "vmRssKiB"), heap: per(before, served, "heapUsedKiB") } },
    containers: { listing: anyContainer, byLabelOf100: byLabel },
    create: { wallS: round(createWall / 1000, 1), ...summary(createMs) },
  };
  results.serving = { sampled: sample.length, ok, bad: bad.slice(0, 10), rows: latRows };

  const td = performance.now();
  await pmap(made, PARALLEL, (id) => remove(id));
  console.log(`  deleted ${previews} in ${round((performance.now() - td) / 1000, 1)} s`);
}

// ---- main ----------------------------------------------------------------------------

async function main() {
  // Like startTestDaemon, but labelled previewd.bench=1: scripts/test removes every previewd.test=1 container when it starts.
  const [databaseUrl, image] = await Promise.all([testDatabaseUrl(), ensureBaseImage()]);
  const nodeId = `bench-browser-${process.pid}-${Date.now().toString(36)}`;
  const dataDir = mkdtempSync(join(tmpdir(), "previewd-bench-browser-"));
  const config = testConfig({
    DATABASE_URL: databaseUrl, PREVIEWD_DATA_DIR: dataDir, PREVIEWD_NODE_ID: nodeId, PREVIEWD_IMAGE: image,
    PREVIEWD_DEPS_DIR: "/tmp/previewd-test-deps", PREVIEWD_WARM_POOL: String(POOL), PREVIEWD_START_TIMEOUT: "120",
  });
  d = wrap(await startDaemon(config, createLogger("warn"), { labels: { "previewd.bench": "1" } }), nodeId, dataDir);
  await watchBuildContainers();
  console.log(`previewd bench browser: ${runs} runs, ${previews} previews, ${cpus().length} cores, load ${loadavg().map((x) => round(x, 2)).join(" ")}, node ${d.nodeId}`);
  results.loadBefore = loadavg().map((x) => round(x, 2));
  await waitForPool();
  // Memory first: the process has not yet held Vite builds' output or Chromium's connection.
  await measureMemoryAndServing();
  let browser: Browser | undefined;
  try {
    browser = await launchBrowser();
    await measureRender(browser);
  } finally {
    await browser?.close();
  }
  results.loadAfter = loadavg().map((x) => round(x, 2));
}

async function cleanup() {
  stopEvents();
  await d?.cleanup();
}

await runBench("browser", results, main, cleanup, () => ({ runs, previews }));
