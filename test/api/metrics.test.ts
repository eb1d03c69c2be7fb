// /metrics as Prometheus sees it: a real daemon after creates, proxied
// requests and wakes, checked by `promtool check metrics` (Debian's
// prometheus package, installed by scripts/test), its values compared with
// what the test did, and the Grafana dashboard's every query run by a real
// Prometheus that scraped this daemon.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DaemonMetrics, type MetricsSnapshot } from "../../src/metrics.ts";
import { echoApp } from "../fixtures/apps.ts";
import { createPreview, startTestDaemon, type TestDaemon } from "../support/daemon.ts";

const DASHBOARD = join(import.meta.dir, "../../docs/grafana/previewd.json");
let d: TestDaemon;
let exposition = "";
let createWallSeconds = 0;
let prometheus: { proc: ReturnType<typeof Bun.spawn>; url: string; dir: string } | undefined;
const ids: string[] = [];

beforeAll(async () => {
  for (const tool of ["promtool", "prometheus"]) if (!Bun.which(tool)) throw new Error(`${tool} is missing: run scripts/test (it installs Debian's prometheus package) or apt-get install prometheus`);
  d = await startTestDaemon({ PREVIEWD_WARM_POOL: "1", PREVIEWD_CAPACITY: "3" });
  prometheus = await startPrometheus(d.apiPort);
  // Two of each, more than a scrape apart, so rate() and histogram_quantile() have something to work on.
  for (let round = 0; round < 2; round++) {
    const t0 = performance.now();
    ids.push((await createPreview(d, { files: echoApp })).id);
    createWallSeconds += (performance.now() - t0) / 1000;
    for (let i = 0; i < 3; i++) expect((await d.preview(ids[0]!, "/small")).status).toBe(200);
    expect((await d.api(`/v1/previews/${ids[0]}/suspend`, { method: "POST" })).status).toBe(200);
    expect(await (await d.preview(ids[0]!, "/small")).text()).toBe("ok"); // held while it wakes
    await Bun.sleep(1500);
  }
  expect((await fetch(`http://127.0.0.1:${d.proxyPort}/`, { headers: { host: "nosuchpreview0000.localhost" } })).status).toBe(404);
  exposition = await (await fetch(`http://127.0.0.1:${d.apiPort}/metrics`)).text();
}, 180_000);

afterAll(async () => {
  if (prometheus) {
    prometheus.proc.kill();
    await prometheus.proc.exited;
    rmSync(prometheus.dir, { recursive: true, force: true });
  }
  await d?.cleanup();
});

test("promtool check metrics finds nothing to say about a live daemon's /metrics", () => {
  expect(promtool(exposition)).toEqual({ code: 0, output: "" });
  // ...and it would: the hand-written exposition this replaced typed running totals as gauges.
  const old = "# HELP previewd_db_watchdog_total Backends stopped.\n# TYPE previewd_db_watchdog_total gauge\npreviewd_db_watchdog_total 1\n";
  expect(promtool(old).output).toContain("non-counter metrics should not have \"_total\" suffix");
});

test("names follow the conventions: previewd_ prefix, counters end in _total, latencies are _seconds histograms", () => {
  const types = Object.fromEntries([...exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1]!, m[2]!]));
  for (const [name, type] of Object.entries(types)) {
    expect(name).toMatch(/^(previewd|process)_/);
    expect({ name, counter: type === "counter" }).toEqual({ name, counter: name.endsWith("_total") });
    if (type === "histogram") expect(name).toEndWith("_seconds");
  }
  for (const h of ["previewd_create_duration_seconds", "previewd_wake_duration_seconds", "previewd_proxy_request_duration_seconds"]) expect(types[h]).toBe("histogram");
  // Renamed from gauges of totals: the old names are gone.
  expect(types.previewd_gossip_dropped_total).toBe("counter");
  expect(types.previewd_peer_refused_total).toBe("counter");
  expect(types.previewd_peer_refused).toBeUndefined();
});

test("the values are what the test did", () => {
  const v = (name: string, labels: Record<string, string> = {}) => sample(exposition, name, labels);
  expect(v("previewd_previews", { tier: "container", status: "running" })).toBe(2);
  expect(exposition).toMatch(/^previewd_previews\{tier="container",status="running"\} 2$/m); // the form lifecycle.test.ts looks for
  expect(v("previewd_previews", { tier: "container", status: "failed" })).toBe(0);
  expect(v("previewd_capacity")).toBe(3);
  expect(v("previewd_capacity_used")).toBe(2);
  expect(v("previewd_cluster_alive_nodes")).toBe(1);
  // No dependencies in the echo app: no install, no cache hit, no entry.
  expect(v("previewd_create_duration_seconds_count", { outcome: "running", deps: "none" })).toBe(2);
  expect(v("previewd_deps_installs_total")).toBe(0);
  expect(v("previewd_deps_cache_hits_total")).toBe(0);
  // Measured inside the daemon: more than nothing, less than the client waited for the two creates.
  const createSum = v("previewd_create_duration_seconds_sum", { outcome: "running", deps: "none" });
  expect(createSum).toBeGreaterThan(0);
  expect(createSum).toBeLessThanOrEqual(createWallSeconds);
  expect(v("previewd_wake_duration_seconds_count", { from: "suspended", outcome: "running" })).toBe(2);
  expect(v("previewd_wake_duration_seconds_bucket", { from: "suspended", outcome: "running", le: "+Inf" })).toBe(2);
  // Every status change, by the lifecycle: two creates (none -> starting -> running), two suspends and wakes of the first.
  const moved = (from: string, to: string) => v("previewd_transitions_total", { tier: "container", from, to });
  expect([moved("none", "starting"), moved("starting", "running"), moved("running", "suspended"), moved("suspended", "running")]).toEqual([2, 2, 2, 2]);
  expect(exposition).not.toMatch(/^previewd_transitions_total\{[^}]*to="failed"/m); // nothing failed: no such series
  // 3 plain requests and 1 that woke its preview, twice; one for a preview that does not exist.
  expect(v("previewd_proxy_request_duration_seconds_count", { code: "200" })).toBe(8);
  expect(v("previewd_proxy_request_duration_seconds_count", { code: "404" })).toBe(1);
  // Fly overflow is off: no Fly series at all (not a zero cost).
  expect(exposition).not.toContain("previewd_fly_");
});

test("the Fly metrics (overflow on) pass promtool too, with their values rounded as before", async () => {
  const m = new DaemonMetrics();
  const snapshot: MetricsSnapshot = {
    previews: { running: 1 }, capacity: 5, capacityUsed: 1, warmAvailable: 0, dbWatchdog: { cancelled: 2, terminated: 1 },
    deps: { installs: 1, failures: 0, hits: 4, evictions: 0, entries: 1, bytes: 1024 }, peerRefused: { forged: 3 }, gossipDropped: {}, aliveNodes: 3,
    fly: { running: 2, suspended: 1, other: 0, runningSeconds: 7200.4, suspendedSeconds: 60, costUsd: 0.00874321 },
  };
  await m.render(snapshot);
  const text = await m.render(snapshot); // twice: counters are set to the totals, not added up
  expect(promtool(text)).toEqual({ code: 0, output: "" });
  expect(sample(text, "previewd_fly_previews", { status: "running" })).toBe(2);
  expect(sample(text, "previewd_fly_running_seconds")).toBe(7200);
  expect(sample(text, "previewd_fly_estimated_cost_usd")).toBe(0.0087);
  expect(sample(text, "previewd_db_watchdog_total", { action: "cancelled" })).toBe(2);
  expect(sample(text, "previewd_deps_cache_hits_total")).toBe(4);
  expect(sample(text, "previewd_peer_refused_total", { reason: "forged" })).toBe(3);
});

test("the Grafana dashboard is valid JSON with the expected panels, and Prometheus runs every query", async () => {
  const dash = JSON.parse(readFileSync(DASHBOARD, "utf8")) as { uid: string; panels: Array<{ type: string; title: string; targets?: Array<{ expr: string }> }> };
  expect(dash.uid).toBe("previewd");
  const queries = Object.fromEntries(dash.panels.filter((p) => p.targets).map((p) => [p.title, p.targets!.map((t) => t.expr)]));
  const all = Object.values(queries).flat().join("\n");
  for (const name of [
    "previewd_previews", "previewd_capacity_used", "previewd_capacity", "previewd_create_duration_seconds_bucket", "previewd_wake_duration_seconds_bucket",
    "previewd_proxy_request_duration_seconds_count", "previewd_proxy_request_duration_seconds_bucket", "previewd_deps_cache_hits_total",
    "previewd_deps_cache_bytes", "previewd_fly_estimated_cost_usd", "previewd_fly_previews",
  ]) expect(all).toContain(name);
  expect(all).toContain("histogram_quantile(0.5,");
  expect(all).toContain("histogram_quantile(0.95,");

  // Every metric a query names is one the daemon exposes (Fly's: when overflow is on, see the test above).
  for (const name of new Set(all.match(/\b(?:previewd|process)_[a-z_]+/g))) {
    const family = name.replace(/_(bucket|count|sum)$/, "");
    if (!family.startsWith("previewd_fly_")) expect({ name, exposed: exposition.includes(`# TYPE ${family} `) }).toEqual({ name, exposed: true });
  }

  // Grafana's variables as "all" would set them; then each query as Prometheus answers it.
  const run = async (expr: string) => {
    const q = expr.replaceAll("$__rate_interval", "1m").replaceAll("$instance", ".*").replaceAll("$job", ".*");
    const res = (await (await fetch(`${prometheus!.url}/api/v1/query?query=${encodeURIComponent(q)}`)).json()) as { status: string; error?: string; data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> } };
    expect({ expr, status: res.status, error: res.error }).toEqual({ expr, status: "success", error: undefined });
    return res.data.result;
  };
  // Wait until Prometheus has scraped the daemon after the last request.
  await until(async () => Number((await run(`previewd_proxy_request_duration_seconds_count{code="404"}`))[0]?.value[1]) === 1);
  const results = Object.fromEntries(await Promise.all(Object.entries(queries).map(async ([title, exprs]) => [title, await Promise.all(exprs.map(run))] as const)));

  const one = (title: string, target: number, labels: Record<string, string> = {}) => {
    const r = results[title]![target]!.find((s) => Object.entries(labels).every(([k, v]) => s.metric[k] === v));
    return r ? Number(r.value[1]) : undefined;
  };
  expect(one("Previews by status (containers)", 0, { status: "running" })).toBe(2);
  expect(one("Capacity used / free", 0)).toBe(2);
  expect(one("Capacity used / free", 1)).toBe(1);
  expect(one("Proxy request rate by status code", 0, { code: "200" })).toBeGreaterThan(0);
  for (const [title, target] of [["Create latency (to running)", 0], ["Create latency (to running)", 1], ["Wake latency", 1], ["Proxy request latency (to response headers)", 1]] as const) {
    const p = one(title, target);
    expect({ title, target, finite: Number.isFinite(p) }).toEqual({ title, target, finite: true });
    expect(p!).toBeGreaterThan(0);
  }
  // p95 of creates is within the buckets the creates fell in: under what the client waited for both.
  expect(one("Create latency (to running)", 1)!).toBeLessThanOrEqual(60);
}, 60_000);

/** A sample's value: the series named, with exactly these labels in any order (NaN when absent). */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  const want = JSON.stringify(Object.entries(labels).sort());
  for (const m of text.matchAll(/^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/gm)) {
    if (m[1] !== name) continue;
    const got = [...(m[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1]!, l[2]!]);
    if (JSON.stringify(got.sort()) === want) return Number(m[3]);
  }
  return NaN;
}

function promtool(text: string): { code: number; output: string } {
  const r = Bun.spawnSync(["promtool", "check", "metrics"], { stdin: new TextEncoder().encode(text), stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode, output: (r.stdout.toString() + r.stderr.toString()).trim() };
}

/** Prometheus scraping the daemon every second, on a free port, with its storage in a temporary folder. */
async function startPrometheus(apiPort: number) {
  const dir = mkdtempSync(join(tmpdir(), "previewd-prom-"));
  const probe = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response() });
  const port = probe.port;
  probe.stop(true);
  writeFileSync(join(dir, "prometheus.yml"), [
    "global: { scrape_interval: 1s, evaluation_interval: 1s }",
    "scrape_configs:",
    "  - job_name: previewd",
    `    static_configs: [{ targets: ["127.0.0.1:${apiPort}"] }]`,
  ].join("\n") + "\n");
  const proc = Bun.spawn(["prometheus", `--config.file=${join(dir, "prometheus.yml")}`, `--storage.tsdb.path=${join(dir, "data")}`, `--web.listen-address=127.0.0.1:${port}`, "--log.level=warn"], { stdout: "ignore", stderr: "pipe" });
  const url = `http://127.0.0.1:${port}`;
  await until(async () => (await fetch(`${url}/-/ready`).catch(() => undefined))?.status === 200, 20_000);
  // Its first scrape comes ~5 s after start (target updates are batched): the
  // activity must come after it, or rate() has one sample and answers nothing.
  const up = async () => ((await (await fetch(`${url}/api/v1/query?query=up`)).json()) as { data: { result: unknown[] } }).data.result.length > 0;
  await until(up, 20_000);
  return { proc, url, dir };
}

async function until(ok: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error("timed out");
    await Bun.sleep(200);
  }
}
