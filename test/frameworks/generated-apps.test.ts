// Every app the frameworks' own generators make offline here (scripts/fixtures; lockfiles committed),
// previewed as a user would: at a non-localhost preview domain ({id}.preview.test) in Chromium, with no
// configuration of ours in the app. Each must render, show PATCH edits (by hot update where the framework
// has it, else after a reload), and stay running. Next.js has its own test (next-generated.test.ts).
// Not here: Astro, Nuxt, React Router and Hono, whose generators download templates from GitHub.
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { Browser } from "playwright-core";
import { hasChromium, launchBrowser } from "../support/browser.ts";
import { startTestDaemon, type TestDaemon } from "../support/daemon.ts";
import { testDepsDir } from "../support/deps.ts";
import { GENERATED_APPS, previewInChromium } from "../support/frameworks.ts";

const DOMAIN = "preview.test";
const EDITS = 2;

let d: TestDaemon;
let browser: Browser;

beforeAll(async () => {
  if (!hasChromium()) return; // each test below is then a visible skip
  [d, browser] = await Promise.all([
    // First installs and compiles at a preview's CPU share on a shared 2-core machine: minutes, not seconds.
    startTestDaemon({ PREVIEWD_DEPS_DIR: testDepsDir(), PREVIEWD_START_TIMEOUT: "300", PREVIEWD_DOMAIN: DOMAIN, PREVIEWD_WARM_POOL: "1" }),
    launchBrowser([`--host-resolver-rules=MAP *.${DOMAIN} 127.0.0.1`]),
  ]);
});
afterAll(async () => {
  await browser?.close();
  await d?.cleanup();
});

for (const app of GENERATED_APPS.filter((a) => !a.benchOnly)) {
  test.skipIf(!hasChromium())(`${app.framework} (${app.name}) at ${DOMAIN}: renders, shows ${EDITS} edits ${app.update === "hmr" ? "by hot update" : "after a reload"}, stays running`, async () => {
    const run = await previewInChromium(d, browser, app, DOMAIN, { edits: EDITS, lockfile: true });
    expect(run.editMs).toHaveLength(EDITS);
    // No hint in these apps: the newest LTS line (src/nodejs), which every generator's engines accept.
    expect(run.node).toMatch(/^26\./);
    console.log(`${app.name}: create ${run.createMs} ms, first render ${run.firstRenderMs} ms, edits ${run.editMs.join("/")} ms, ${Math.round((run.memoryBytes ?? 0) / 1048576)} MiB`);
    // A preview that is done with stays out of the next one's way (the machine has 2 cores).
    expect((await d.api(`/v1/previews/${run.id}`, { method: "DELETE" })).status).toBe(204);
  }, 420_000);
}
