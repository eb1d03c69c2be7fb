// The only real proof of the WebContainer runtime: boots StackBlitz's
// runtime in Chrome through the launcher page, installs the Vite + React
// fixture with npm inside it, waits for server-ready and reads the app's
// text inside the *.webcontainer-api.io iframe, then PATCHes a file and sees
// the dev server hot-reload it. Needs internet (stackblitz.com,
// *.staticblitz.com, *.webcontainer-api.io, the npm registry), Docker and
// the test PostgreSQL (as every daemon test), and Chrome or Chromium.
//
// Not matched by bun's test glob (*.test.ts), so the suite never runs it. Run:
//   PREVIEWD_LIVE_WEBCONTAINER=1 bun test ./test/live/webcontainer.live.ts
// Options: PREVIEWD_TEST_CHROMIUM=/path/to/chrome (default /usr/bin/chromium),
// PREVIEWD_LIVE_HEADED=1 (a visible window), PREVIEWD_WEBCONTAINER_API_KEY
// (StackBlitz's key, passed to the daemon).
// Without PREVIEWD_LIVE_WEBCONTAINER=1 it prints "skipped (no network)" and
// reports one skipped test: never a pass.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { chromium, type Browser } from "playwright-core";
import { loadApp } from "../fixtures/apps/index.ts";
import { CHROMIUM_ARGS, CHROMIUM_PATH } from "../support/browser.ts";
import type { TestDaemon } from "../support/daemon.ts";

const LIVE = process.env.PREVIEWD_LIVE_WEBCONTAINER === "1";
const NAME = "the real WebContainer runtime boots, installs and serves the Vite + React app, and follows a PATCH";

if (!LIVE) {
  console.log("skipped (no network): set PREVIEWD_LIVE_WEBCONTAINER=1 on a machine with internet");
  test.skip(NAME, () => {});
} else {
  let d: TestDaemon;
  let browser: Browser;
  const files = loadApp("vite-react");

  beforeAll(async () => {
    const { startTestDaemon } = await import("../support/daemon.ts");
    d = await startTestDaemon({
      PREVIEWD_BROWSER_RUNTIME: "webcontainer",
      PREVIEWD_WEBCONTAINER_BOOT_TIMEOUT: "90",
      PREVIEWD_WARM_POOL: "0",
      ...(process.env.PREVIEWD_WEBCONTAINER_API_KEY ? { PREVIEWD_WEBCONTAINER_API_KEY: process.env.PREVIEWD_WEBCONTAINER_API_KEY } : {}),
    });
    // Not test/support's launchBrowser: that one keeps the browser off the network on purpose.
    browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS.filter((a) => a !== "--disable-background-networking"), headless: process.env.PREVIEWD_LIVE_HEADED !== "1" });
  }, 180_000);
  afterAll(async () => {
    await browser?.close();
    await d?.cleanup();
  });

  test(NAME, async () => {
    // No ?wait: the static build (the fallback) is not what is tested here.
    const res = await d.api("/v1/previews", { method: "POST", body: JSON.stringify({ files, tier: "browser" }) });
    expect(res.status).toBe(201);
    const { id } = (await res.json()) as { id: string };
    const page = await browser.newPage();
    page.on("console", (m) => console.log(`[page] ${m.text()}`));
    // ?fallback=0: a failure stays on screen (and fails this test) instead of turning into the static build.
    await page.goto(`http://${id}.localhost:${d.proxyPort}/?fallback=0`);
    type G = { document: { documentElement: { dataset: { state?: string } } } };
    await page.waitForFunction(() => ["running", "not-isolated", "no-dev-script", "runtime-unreachable", "install-failed", "error"].includes((globalThis as unknown as G).document.documentElement.dataset.state ?? ""), undefined, { timeout: 300_000, polling: 500 });
    const state = await page.evaluate(() => (globalThis as unknown as G).document.documentElement.dataset.state);
    if (state !== "running") throw new Error(`the launcher stopped in ${state}: ${await page.locator("#detail").innerText()}`);

    const src = new URL((await page.locator("#app").getAttribute("src"))!);
    expect(src.hostname.endsWith(".webcontainer-api.io")).toBe(true);
    const app = page.frameLocator("#app");
    expect(await app.locator("#title").innerText({ timeout: 60_000 })).toBe("Hello from Vite + React");

    // A PATCH reaches the running dev server through /__previewd/events and fs.writeFile.
    const changed = files["src/App.jsx"]!.replace("Hello from Vite + React", "Changed inside the WebContainer");
    expect((await d.api(`/v1/previews/${id}/files`, { method: "PATCH", body: JSON.stringify({ files: { "src/App.jsx": changed } }) })).status).toBe(200);
    await app.locator("#title", { hasText: "Changed inside the WebContainer" }).waitFor({ timeout: 60_000 });
    await page.close();
  }, 420_000);
}
