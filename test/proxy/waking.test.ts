// The waking page, against a real daemon and containers: a browser
// navigation to an app that takes 4 s to listen gets a small 503 page with
// the phase within ~1.5 s, and the app once it answers; fetch() and
// WebSocket requests sent at the same moment are held and answered by the
// app, never given HTML. A real Chromium navigation to a stopped preview ends
// on the app's page by itself.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { echoAppSource } from "../fixtures/apps.ts";
import { launchBrowser } from "../support/browser.ts";
import { startTestDaemon, type TestDaemon } from "../support/daemon.ts";

let d: TestDaemon;
beforeAll(async () => {
  // Idle 3 s, then stopped 1 s later: the second test needs a stopped preview soon.
  d = await startTestDaemon({ PREVIEWD_IDLE_TIMEOUT: "3", PREVIEWD_STOP_AFTER: "1", PREVIEWD_WARM_POOL: "1" });
});
afterAll(() => d?.cleanup());

const NAVIGATE = { "sec-fetch-mode": "navigate", "sec-fetch-dest": "document", accept: "text/html,application/xhtml+xml,*/*;q=0.8" };
const statusOf = async (id: string) => ((await (await d.api(`/v1/previews/${id}`)).json()) as { status: string }).status;
async function until(id: string, status: string, ms: number) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline && (await statusOf(id)) !== status) await Bun.sleep(100);
  return statusOf(id);
}
const timed = async (p: Promise<Response>) => {
  const t0 = performance.now();
  const res = await p;
  return { res, ms: performance.now() - t0, body: await res.text() };
};

let id = "";

test("a navigation gets the waking page within ~1.5 s; fetch and WebSocket are held for the app", async () => {
  const res = await d.api("/v1/previews", { method: "POST", body: JSON.stringify({ files: { "server.js": `setTimeout(() => { ${echoAppSource} }, 4000);` }, command: ["node", "server.js"] }) });
  const p = (await res.json()) as { id: string; status: string };
  id = p.id;
  expect(["installing", "starting"]).toContain(p.status);

  const ws = new WebSocket(`ws://127.0.0.1:${d.proxyPort}/ws`, { headers: { host: `${id}.localhost` } } as never);
  const wsEcho = new Promise<string>((resolve, reject) => {
    ws.onopen = () => ws.send("ping");
    ws.onmessage = (e) => resolve(String(e.data));
    ws.onerror = () => reject(new Error("websocket failed"));
  });
  const [nav, navByAccept, api, corsHtml] = await Promise.all([
    timed(d.preview(id, "/", { headers: NAVIGATE })),
    timed(d.preview(id, "/", { headers: { accept: "text/html" } })), // no Sec-Fetch-*: an older browser, curl
    timed(d.preview(id, "/small", { headers: { "sec-fetch-mode": "cors", accept: "*/*" } })),
    timed(d.preview(id, "/small", { headers: { "sec-fetch-mode": "cors", accept: "text/html" } })), // fetch() asking for HTML: still held
  ]);
  console.log(`waking page after ${nav.ms.toFixed(0)} ms; held fetch answered after ${api.ms.toFixed(0)} ms`);

  for (const page of [nav, navByAccept]) {
    expect(page.ms).toBeLessThan(1800);
    expect(page.ms).toBeGreaterThan(900);
    expect(page.res.status).toBe(503);
    expect(page.res.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(page.res.headers.get("cache-control")).toBe("no-store");
    expect(Number(page.res.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(page.body).toContain('data-status="starting"');
    expect(page.body).toContain("starting the app…");
    expect(page.body).toContain("/__previewd/status");
  }
  for (const held of [api, corsHtml]) {
    expect(held.res.status).toBe(200);
    expect(held.body).toBe("ok");
    expect(held.ms).toBeGreaterThan(2000); // it waited for the app
  }
  expect(await wsEcho).toBe("ping");
  ws.close();

  // The page's poll: status and phase only, from the proxy.
  const st = await d.preview(id, "/__previewd/status", { headers: { "x-previewd-status": "1" } });
  expect(st.headers.get("cache-control")).toBe("no-store");
  expect(await st.json()).toEqual({ status: "running" });
  // Without the header the path is the app's own.
  expect(await (await d.preview(id, "/__previewd/status")).text()).toBe("hello from the echo app");
  // Up now: the navigation gets the app.
  const after = await d.preview(id, "/", { headers: NAVIGATE });
  expect(after.status).toBe(200);
  expect(await after.text()).toBe("hello from the echo app");
}, 90_000);

test("a navigation to a stopped preview: the waking page, then the app, by itself", async () => {
  expect(id).not.toBe("");
  expect(await until(id, "stopped", 20_000)).toBe("stopped");
  const unknown = await d.preview("doesnotexist0000", "/__previewd/status", { headers: { "x-previewd-status": "1" } });
  expect(unknown.status).toBe(404);

  const browser = await launchBrowser();
  try {
    const tab = await browser.newPage();
    const url = `http://${id}.localhost:${d.proxyPort}/`;
    const first = await tab.goto(url, { timeout: 15_000 });
    expect(first?.status()).toBe(503);
    expect(await tab.textContent("#p")).toMatch(/(starting the app|waking up)/);
    // The page polls and reloads itself when the app answers.
    await tab.waitForFunction(() => (globalThis as unknown as { document: { body: { innerText: string } } }).document.body.innerText.includes("hello from the echo app"), undefined, { timeout: 30_000 });
    expect(await statusOf(id)).toBe("running");
  } finally {
    await browser.close();
  }
}, 90_000);
