// The dashboard (GET / on the API port) in a real headless Chromium against a
// real daemon: sign-in (a wrong token is explained), the cluster, a preview
// created through the API appearing live over GET /v1/events, its live logs,
// suspend/resume, deploy (off here: the panel says so), delete with a
// confirmation, and 500 real rows (plain-site browser-tier previews need no
// container) with the render times measured in the page. Screenshots of each
// screen go to bench/screenshots/ (the README uses them).
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { echoApp } from "../fixtures/apps.ts";
import { unique } from "../support/apps.ts";
import { launchBrowser } from "../support/browser.ts";
import { startTestDaemon, type TestDaemon } from "../support/daemon.ts";
import { freshDatabase } from "../support/postgres.ts";

// What the callbacks run in the page use (this project's tsconfig has no DOM library).
declare const document: { querySelector(s: string): { textContent: string | null } | null; querySelectorAll(s: string): { length: number }; getElementById(id: string): { textContent: string | null } | null };
declare const window: unknown;

const SHOTS = join(import.meta.dir, "..", "..", "bench", "screenshots");
const MANY = Number(process.env.DASHBOARD_ROWS ?? 500);

let d: TestDaemon;
let browser: Browser;
let page: Page;
let echo: { id: string };
const timings: Record<string, unknown> = {};
/** Uncaught errors in the page: there must be none. */
const pageErrors: string[] = [];

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  // A database of its own: the dashboard lists every preview in the store, and the suite's shared one holds other files' previews.
  [d, browser] = await Promise.all([startTestDaemon({ PREVIEWD_WARM_POOL: "1", DATABASE_URL: await freshDatabase() }), launchBrowser()]);
  page = await browser.newPage({ viewport: { width: 1400, height: 760 } });
  page.setDefaultTimeout(20_000);
  page.on("pageerror", (e) => pageErrors.push(String(e)));
}, 120_000);

afterAll(async () => {
  if (Object.keys(timings).length) writeFileSync(join(SHOTS, "render-times.json"), JSON.stringify(timings, null, 2) + "\n");
  await browser?.close();
  await d?.cleanup();
}, 60_000);

const shot = (name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`) });
const row = (id: string) => page.locator(`#rows [data-id="${id}"]`);

/** Waits until the row's status badge reads `status` (the page is never reloaded for it). */
async function statusIs(id: string, status: string, timeout = 90_000): Promise<void> {
  await page.waitForFunction(([i, s]) => document.querySelector(`#rows [data-id="${i}"] .badge`)?.textContent === s, [id, status] as const, { timeout, polling: 100 });
}

async function signIn(token: string): Promise<void> {
  await page.locator("#token").fill(token);
  await page.locator("#login-form button[type=submit]").click();
}

/**
 * Cells of the header and of a row whose text does not fit (CSS ellipsis: the
 * text is all there, the box is narrower than it), as "class: text". The
 * status cell's phase line is a hint with a title, so it may end in "…".
 */
async function clippedCells(id: string): Promise<string[]> {
  return page.evaluate((i) => {
    const doc = (globalThis as unknown as { document: { querySelectorAll(s: string): Iterable<{ className: string; textContent: string | null; scrollWidth: number; clientWidth: number }> } }).document;
    return [...doc.querySelectorAll(`.row.head > div, #rows [data-id="${i}"] > div, #rows [data-id="${i}"] .badge`)]
      .filter((el) => el.scrollWidth > el.clientWidth)
      .map((el) => `${el.className || "header"}: ${el.textContent} (${el.scrollWidth} > ${el.clientWidth} px)`);
  }, id);
}

/** The render that took longest. */
const slowest = <R extends { ms: number }>(rs: R[]) => rs.reduce((a, b) => (b.ms > a.ms ? b : a));

/** Runs `fn` over `items` with at most `n` at once. */
async function pool<T>(items: T[], n: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: n }, async () => {
    while (next < items.length) await fn(items[next++]!);
  }));
}

test("a wrong token is refused with a clear message and is not kept", async () => {
  await page.goto(`http://127.0.0.1:${d.apiPort}/`);
  await signIn("not-the-token");
  await page.locator("#login-error").filter({ hasText: "refused this token" }).waitFor();
  expect(await page.locator("#login-error").innerText()).toContain("401");
  expect(await page.evaluate(() => sessionStorage.getItem("previewd-token"))).toBeNull();
  expect(await page.locator("#app").isHidden()).toBe(true);
  await shot("login-wrong-token");
}, 30_000);

test("the API token signs in (kept in sessionStorage only) and the cluster shows", async () => {
  await signIn(d.token);
  await page.locator(`#cluster [data-node="${d.nodeId}"]`).waitFor();
  await page.locator("#conn", { hasText: "live" }).waitFor();
  const text = await page.locator("#cluster").innerText();
  expect(text).toContain("alive");
  expect(text).toMatch(/\d+ used · \d+ free/);
  expect(text).toContain("overflow to Fly: off");
  expect(text).toMatch(/warm pool \(.+\): \d+ of 1 ready/);
  expect(await page.evaluate(() => ({ s: sessionStorage.getItem("previewd-token"), l: localStorage.length }))).toEqual({ s: d.token, l: 0 });
  await page.evaluate(() => ((window as unknown as { noReload: number }).noReload = 1));
}, 30_000);

test("a preview created through the API appears live and reaches running (no reload)", async () => {
  const t0 = Date.now();
  const res = await d.api("/v1/previews", { method: "POST", body: JSON.stringify({ files: unique(echoApp) }) });
  expect(res.status).toBe(201);
  echo = (await res.json()) as { id: string };
  await row(echo.id).waitFor();
  timings.createToRowMs = Date.now() - t0;
  expect(timings.createToRowMs as number).toBeLessThan(5000); // one tick of the stream, not a reload
  await statusIs(echo.id, "running");
  const cells = await row(echo.id).locator("[role=cell]").allInnerTexts();
  expect(cells[2]).toBe("container");
  expect(cells[3]).toBe(d.nodeId);
  expect(cells[8]).toContain(`${echo.id}.localhost`);
  // Memory and CPU as its node reads them from the container's cgroup, updated live.
  const deadline = Date.now() + 15_000;
  let usage = cells.slice(4, 6);
  while (!(/^\d+ MiB$/.test(usage[0] ?? "") && /^\d+\.\d%$/.test(usage[1] ?? "")) && Date.now() < deadline) {
    await Bun.sleep(300);
    usage = (await row(echo.id).locator("[role=cell]").allInnerTexts()).slice(4, 6);
  }
  expect(usage[0]).toMatch(/^\d+ MiB$/);
  expect(Number.parseInt(usage[0]!)).toBeGreaterThan(0);
  expect(usage[1]).toMatch(/^\d+\.\d%$/);
  expect(await row(echo.id).locator(".tier").getAttribute("title")).toContain("why container");
  // At 1400 px every column shows its whole text (issue 26 saw "contai…" and "0.…").
  expect(await clippedCells(echo.id)).toEqual([]);
  expect(await page.evaluate(() => (window as unknown as { noReload?: number }).noReload)).toBe(1);
  await shot("previews");
}, 120_000);

test("a private preview says so beside its id, live (PATCH visibility, no reload)", async () => {
  const vis = row(echo.id).locator(".vis");
  expect(await vis.textContent()).toBe("");
  expect((await d.api(`/v1/previews/${echo.id}`, { method: "PATCH", body: JSON.stringify({ visibility: "private" }) })).status).toBe(200);
  await page.waitForFunction((i) => document.querySelector(`#rows [data-id="${i}"] .vis`)?.textContent === "private", echo.id, { timeout: 10_000, polling: 100 });
  expect(await vis.getAttribute("title")).toContain("share link");
  expect((await d.api(`/v1/previews/${echo.id}`, { method: "PATCH", body: JSON.stringify({ visibility: "public" }) })).status).toBe(200);
  await page.waitForFunction((i) => document.querySelector(`#rows [data-id="${i}"] .vis`)?.textContent === "", echo.id, { timeout: 10_000, polling: 100 });
}, 30_000);

test("its logs follow live: a line the app prints shows in the panel", async () => {
  await row(echo.id).locator("button[data-action=logs]").click();
  await page.locator("#panel-title", { hasText: `Logs · ${echo.id}` }).waitFor();
  await page.locator("#log-output").waitFor();
  await Bun.sleep(300); // the follower is attached before the app prints
  const marker = `hello-from-the-dashboard-test-${Date.now()}`;
  expect(await (await d.preview(echo.id, `/log?msg=${marker}`)).text()).toBe("logged");
  await page.waitForFunction((m) => document.getElementById("log-output")?.textContent?.includes(m), marker, { timeout: 20_000 });
  await shot("logs");
  await page.locator("#panel-close").click();
}, 40_000);

test("suspend shows suspended; resume shows running", async () => {
  const toggle = row(echo.id).locator("button[data-action=toggle]");
  expect(await toggle.innerText()).toBe("Suspend");
  await toggle.click();
  await statusIs(echo.id, "suspended", 30_000);
  expect(((await (await d.api(`/v1/previews/${echo.id}`)).json()) as { status: string }).status).toBe("suspended");
  await shot("suspended");
  expect(await toggle.innerText()).toBe("Resume");
  await toggle.click();
  await statusIs(echo.id, "running", 60_000);
}, 120_000);

test("deploy opens its panel; with deploys off the daemon's reason is shown", async () => {
  await row(echo.id).locator("button[data-action=deploy]").click();
  await page.locator("#panel-title", { hasText: `Deploy · ${echo.id}` }).waitFor();
  await page.locator(".deploy-form button").click();
  await page.locator("#deploy-message", { hasText: "RAILWAY_API_TOKEN" }).waitFor();
  await shot("deploy-off");
  await page.locator("#panel-close").click();
}, 30_000);

test("delete asks first; cancel keeps it, confirm removes it", async () => {
  await row(echo.id).locator("button[data-action=delete]").click();
  await page.locator("#confirm").waitFor();
  expect(await page.locator("#confirm-text").innerText()).toContain(echo.id);
  await shot("confirm-delete");
  await page.locator("#confirm button[value=cancel]").click();
  await Bun.sleep(1500); // a stream tick: it is still there
  expect(await row(echo.id).count()).toBe(1);
  expect((await d.api(`/v1/previews/${echo.id}`)).status).toBe(200);

  await row(echo.id).locator("button[data-action=delete]").click();
  await page.locator("#confirm-ok").click();
  await row(echo.id).waitFor({ state: "detached" });
  expect((await d.api(`/v1/previews/${echo.id}`)).status).toBe(404);
  await Bun.sleep(1500); // and the stream does not bring it back
  expect(await row(echo.id).count()).toBe(0);
}, 60_000);

test("GET /v1/events is for the API token only: none is 401, a scoped token is 403", async () => {
  const site = (await (await d.api("/v1/previews?wait=1", { method: "POST", body: JSON.stringify({ files: { "index.html": "<h1>scoped</h1>" } }) })).json()) as { id: string };
  const { token } = (await (await d.api(`/v1/previews/${site.id}/tokens`, { method: "POST", body: JSON.stringify({ scope: ["read"] }) })).json()) as { token: string };
  const url = `http://127.0.0.1:${d.apiPort}/v1/events`;
  expect((await fetch(url)).status).toBe(401);
  expect((await fetch(url, { headers: { authorization: `Bearer ${token}` } })).status).toBe(403);
  // The page explains a scoped token too.
  const other = await browser.newPage();
  await other.goto(`http://127.0.0.1:${d.apiPort}/`);
  await other.locator("#token").fill(token);
  await other.locator("#login-form button[type=submit]").click();
  await other.locator("#login-error", { hasText: "scoped to one preview" }).waitFor();
  await other.close();
  const ok = await fetch(url, { headers: { authorization: `Bearer ${d.token}` } });
  expect(ok.headers.get("content-type")).toContain("text/event-stream");
  const reader = ok.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  // The first event is the snapshot; the new site is in it or in a change a tick later.
  while (!text.includes(site.id)) text += (await reader.read()).value ?? "";
  expect(text).toStartWith("event: snapshot\n");
  await reader.cancel();
}, 60_000);

test(`${MANY} previews: they arrive live in batches, and the table renders and filters them fast`, async () => {
  // Start from what the API holds, once the page shows it too (the last test's site arrives with a tick).
  const before = ((await (await d.api("/v1/previews")).json()) as { previews: unknown[] }).previews.length;
  await page.waitForFunction((n) => document.querySelectorAll("#rows .row").length === n, before, { timeout: 10_000, polling: 100 });
  const t0 = Date.now();
  const ids: string[] = [];
  await pool(Array.from({ length: MANY }, (_, i) => i), 8, async (i) => {
    const res = await d.api("/v1/previews", { method: "POST", body: JSON.stringify({ files: { "index.html": `<h1>site ${i}</h1>` } }) });
    expect(res.status).toBe(201);
    ids.push(((await res.json()) as { id: string }).id);
  });
  timings.createdMs = Date.now() - t0;
  await page.waitForFunction((n) => document.querySelectorAll("#rows .row").length >= n, before + MANY, { timeout: 60_000, polling: 200 });
  timings.lastRowShownAfterLastCreateMs = Date.now() - t0 - (timings.createdMs as number);
  type Render = { kind: string; rows: number; ms: number; dom: number; layout: number };
  const stats = () => page.evaluate(() => (window as unknown as { previewdStats: { renders: Render[] } }).previewdStats.renders);
  const live = (await stats()).filter((r: Render) => r.kind === "changes");
  timings.liveBatches = { count: live.length, maxRows: Math.max(...live.map((r) => r.rows)), slowest: slowest(live) };
  expect(slowest(live).ms).toBeLessThan(1000);

  // A fresh load: sign-in from sessionStorage, then one snapshot of every row.
  const l0 = Date.now();
  await page.reload();
  await page.waitForFunction((n) => document.querySelectorAll("#rows .row").length >= n, before + MANY, { timeout: 30_000, polling: 50 });
  timings.reloadToAllRowsMs = Date.now() - l0;
  const snap = (await stats()).find((r: Render) => r.kind === "snapshot" && r.rows >= MANY)!;
  timings.snapshotRender = snap;
  expect(snap.ms).toBeLessThan(1000);
  await shot("many-previews");

  // Search and filters: every row is looked at, none rebuilt.
  await page.locator("#search").fill(ids[7]!);
  await page.waitForFunction(() => document.querySelectorAll("#rows .row:not([hidden])").length === 1);
  const search = (await stats()).filter((r: Render) => r.kind === "filter");
  timings.filterRender = search[search.length - 1];
  await shot("search");
  await page.locator("#search").fill("");
  await page.locator("#f-tier").selectOption("container");
  await page.waitForFunction(() => document.querySelectorAll("#rows .row:not([hidden])").length === 0);
  await page.locator("#f-tier").selectOption("");

  // Tear them down as fast as the API allows: large removal batches.
  const d0 = Date.now();
  await pool(ids, 16, async (id) => {
    expect((await d.api(`/v1/previews/${id}`, { method: "DELETE" })).status).toBe(204);
  });
  await page.waitForFunction((n) => document.querySelectorAll("#rows .row").length <= n, before, { timeout: 60_000, polling: 200 }).catch(async (e) => {
    // What the page and the API hold when the rows do not go: says which side is behind.
    console.log("rows left", await page.locator("#rows .row").count(), "api", ((await (await d.api("/v1/previews")).json()) as { previews: unknown[] }).previews.length, "conn", await page.locator("#conn").innerText(), JSON.stringify((await stats()).slice(-8)));
    throw e;
  });
  timings.deleteAllToEmptyMs = Date.now() - d0;
  const removals = (await stats()).filter((r: Render) => r.kind === "changes");
  timings.removalBatches = { count: removals.length, maxRows: Math.max(...removals.map((r) => r.rows)), slowest: slowest(removals) };
  console.log("dashboard render timings", JSON.stringify(timings));
  expect(pageErrors).toEqual([]);
}, 600_000);
